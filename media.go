package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// picturesDir is the folder under the media folder that holds pictures,
// named as in the Django original so that URLs keep their shape.
const picturesDir = "profile_pictures"

// Limits on a picture's dimensions, read from its header before any pixel
// is decoded, so that a small file claiming a huge image costs nothing.
const (
	maxPictureSide   = 10_000
	maxPicturePixels = 40_000_000
)

const (
	msgNotAFile     = "The submitted data was not a file. Check the encoding type on the form."
	msgEmptyFile    = "The submitted file is empty."
	msgInvalidImage = "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
	msgImageTooBig  = "Upload a smaller image: at most 10000 pixels a side and 40 megapixels in all."
)

// pictureName is the only shape of stored name: random, with the extension
// of the format it was encoded in.
var pictureName = regexp.MustCompile(`^[0-9a-f]{32}\.(png|jpg|gif)$`)

var pictureTypes = map[string]string{"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}

func (s *server) prepareMedia() error {
	if err := os.MkdirAll(filepath.Join(s.mediaDir, picturesDir), 0o755); err != nil {
		return fmt.Errorf("media folder: %w", err)
	}
	return nil
}

// readMultipart parses a multipart body, which readInput has bounded by
// the upload limit plus room for the text fields.
func readMultipart(w http.ResponseWriter, r *http.Request, in *input) bool {
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		writeBodyError(w, err, "Multipart form parse error - ")
		return false
	}
	in.form, in.files = r.MultipartForm.Value, r.MultipartForm.File
	return true
}

// pictureInput is what a body says about profile_picture.
type pictureInput struct {
	set    bool        // the body sets or clears the picture
	img    image.Image // the decoded picture; nil clears it
	format string      // "png", "jpeg" or "gif"
}

// pictureField reads profile_picture: a multipart file sets it, JSON null
// or an empty form value clears it, anything else is a field error. The
// file must decode as a PNG, JPEG or GIF whatever its name or declared
// type. It returns false after writing a 413 for a file over the limit.
func (s *server) pictureField(w http.ResponseWriter, r *http.Request, fe fieldErrors, in *input) (pictureInput, bool) {
	const field = "profile_picture"
	if in.json != nil {
		raw, ok := in.json[field]
		switch {
		case !ok:
		case string(raw) == "null":
			return pictureInput{set: true}, true
		default:
			fe.add(field, msgNotAFile)
		}
		return pictureInput{}, true
	}
	if files := in.files[field]; len(files) > 0 {
		fh := files[len(files)-1]
		if fh.Size > s.maxUpload {
			writeDetail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The picture is too large. The limit is %d bytes.", s.maxUpload))
			return pictureInput{}, false
		}
		if fh.Size == 0 {
			fe.add(field, msgEmptyFile)
			return pictureInput{}, true
		}
		f, err := fh.Open()
		if err != nil {
			s.serverError(w, r, fmt.Errorf("open upload: %w", err))
			return pictureInput{}, false
		}
		img, format, msg, err := s.decodePicture(r.Context(), f)
		f.Close()
		if err != nil {
			s.serverError(w, r, err)
			return pictureInput{}, false
		}
		if msg != "" {
			fe.add(field, msg)
			return pictureInput{}, true
		}
		return pictureInput{set: true, img: img, format: format}, true
	}
	if vals, ok := in.form[field]; ok {
		if vals[len(vals)-1] == "" {
			return pictureInput{set: true}, true
		}
		fe.add(field, msgNotAFile)
	}
	return pictureInput{}, true
}

// decodePicture decodes a picture file, uploaded or imported. msg is the
// field error when the file is not an acceptable image; err is a failure
// of the server's own.
func (s *server) decodePicture(ctx context.Context, f io.ReadSeeker) (img image.Image, format, msg string, err error) {
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return nil, "", msgInvalidImage, nil
	}
	if cfg.Width > maxPictureSide || cfg.Height > maxPictureSide || cfg.Width*cfg.Height > maxPicturePixels {
		return nil, "", msgImageTooBig, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, "", "", fmt.Errorf("rewind picture: %w", err)
	}
	if err := acquire(ctx, s.work); err != nil {
		return nil, "", "", err
	}
	defer release(s.work)
	img, _, err = image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, "", msgInvalidImage, nil
	}
	if format == "jpeg" {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, "", "", fmt.Errorf("rewind picture: %w", err)
		}
		img = orient(img, jpegOrientation(f))
	}
	return img, format, "", nil
}

// savePicture re-encodes the picture in its own format, which drops EXIF
// and any trailing bytes, writes it to a temporary file and renames it to a
// fresh random name, which it returns. A picture that clears returns "".
func (s *server) savePicture(ctx context.Context, pic pictureInput) (string, error) {
	if pic.img == nil {
		return "", nil
	}
	if err := acquire(ctx, s.work); err != nil {
		return "", err
	}
	defer release(s.work)
	dir := filepath.Join(s.mediaDir, picturesDir)
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return "", fmt.Errorf("save picture: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	bw := bufio.NewWriter(tmp)
	var ext string
	switch pic.format {
	case "png":
		ext, err = "png", png.Encode(bw, pic.img)
	case "jpeg":
		ext, err = "jpg", jpeg.Encode(bw, pic.img, &jpeg.Options{Quality: 90})
	case "gif":
		ext, err = "gif", gif.Encode(bw, pic.img, nil)
	default:
		err = fmt.Errorf("unknown format %q", pic.format)
	}
	err = errors.Join(err, bw.Flush(), tmp.Sync(), tmp.Close())
	if err != nil {
		return "", fmt.Errorf("save picture: %w", err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	name := hex.EncodeToString(b) + "." + ext
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return "", fmt.Errorf("save picture: %w", err)
	}
	return name, nil
}

// removePicture deletes a stored picture that no row refers to any more.
func (s *server) removePicture(name string) {
	if !pictureName.MatchString(name) {
		return
	}
	if err := os.Remove(filepath.Join(s.mediaDir, picturesDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("remove picture", "name", name, "err", err)
	}
}

// pictureURL is the absolute URL of a stored picture, or nil for none.
func (s *server) pictureURL(r *http.Request, name string) *string {
	if name == "" {
		return nil
	}
	u := s.baseURL(r) + "/media/" + picturesDir + "/" + name
	return &u
}

// handleMedia serves a stored picture. Names never change content, so it
// may be cached for a year; nothing but the file type decides how a
// browser treats it.
func (s *server) handleMedia(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !pictureName.MatchString(name) {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	f, err := os.Open(filepath.Join(s.mediaDir, picturesDir, name))
	if errors.Is(err, os.ErrNotExist) {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", pictureTypes[name[strings.LastIndexByte(name, '.')+1:]])
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Content-Disposition", `inline; filename="`+name+`"`)
	http.ServeContent(w, r, name, info.ModTime(), f)
}
