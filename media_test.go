package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// picture uploads data as the user's picture and returns its URL path.
func (a *app) picture(token, fileName string, data []byte) string {
	a.t.Helper()
	r := a.multipart("PATCH", profilePath, token, part{name: "profile_picture", fileName: fileName, data: data})
	wantStatus(a.t, r, http.StatusOK)
	u, _ := r.obj(a.t)["profile_picture"].(string)
	if u == "" {
		a.t.Fatalf("no picture URL: %s", r)
	}
	return strings.TrimPrefix(u, a.url)
}

// storedPictures lists the files in the pictures folder.
func (a *app) storedPictures() []string {
	a.t.Helper()
	entries, err := os.ReadDir(filepath.Join(a.mediaDir, picturesDir))
	if err != nil {
		a.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestPictureFormatsServed(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for _, tc := range []struct {
		format, contentType string
		data                []byte
	}{{"png", "image/png", pngBytes()}, {"jpeg", "image/jpeg", jpegBytes()}, {"gif", "image/gif", gifBytes()}} {
		// The declared name says nothing of the content.
		path := a.picture(token, "upload.txt", tc.data)
		if !regexp.MustCompile(`^/media/profile_pictures/[0-9a-f]{32}\.(png|jpg|gif)$`).MatchString(path) {
			t.Fatalf("unexpected picture path %q", path)
		}
		r := a.do("GET", path, nil)
		wantStatus(t, r, 200)
		for k, v := range map[string]string{
			"Content-Type": tc.contentType, "X-Content-Type-Options": "nosniff",
			"Cache-Control": "public, max-age=31536000, immutable", "Content-Security-Policy": "default-src 'none'",
		} {
			if got := r.header.Get(k); got != v {
				t.Fatalf("%s: want %s %q, got %q", tc.format, k, v, got)
			}
		}
		if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") {
			t.Fatalf("Content-Disposition %q", cd)
		}
		_, format, err := image.Decode(bytes.NewReader(r.body))
		if err != nil || format != tc.format {
			t.Fatalf("served %s as %q (%v)", tc.format, format, err)
		}
		if got := a.do("GET", profilePath, nil, authHeader(token)...).obj(t)["profile_picture"]; got != a.url+path {
			t.Fatalf("profile shows %v, want %s", got, a.url+path)
		}
	}
	// Each replacement deleted the file before it.
	if names := a.storedPictures(); len(names) != 1 {
		t.Fatalf("want only the current picture stored, got %v", names)
	}
}

func TestPictureRefused(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	current := a.picture(token, "me.png", pngBytes())
	truncated := pngBytes()
	truncated = truncated[:len(truncated)-20]
	for _, tc := range []struct {
		name  string
		parts []part
		want  string
	}{
		{"not an image", []part{{name: "profile_picture", fileName: "me.png", data: []byte("%PDF-1.4 not an image")}}, msgInvalidImage},
		{"corrupt image", []part{{name: "profile_picture", fileName: "me.png", data: truncated}}, msgInvalidImage},
		{"empty file", []part{{name: "profile_picture", fileName: "me.png"}}, msgEmptyFile},
		{"text part", []part{{name: "profile_picture", value: "hello"}}, msgNotAFile},
		{"too many pixels", []part{{name: "profile_picture", fileName: "bomb.png", data: pngHeader(9000, 9000)}}, msgImageTooBig},
		{"too wide", []part{{name: "profile_picture", fileName: "bomb.png", data: pngHeader(10_001, 1)}}, msgImageTooBig},
		{"valid bio, bad picture", []part{{name: "bio", value: "should not stick"}, {name: "profile_picture", fileName: "x.gif", data: []byte("GIF89a")}}, msgInvalidImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := a.multipart("PATCH", profilePath, token, tc.parts...)
			wantBody(t, r, 400, `{"profile_picture":[`+mustJSONString(t, tc.want)+`]}`)
			if time.Since(start) > 2*time.Second {
				t.Fatalf("refusing took %v", time.Since(start))
			}
		})
	}
	p := a.do("GET", profilePath, nil, authHeader(token)...).obj(t)
	if p["profile_picture"] != a.url+current || p["bio"] != "" {
		t.Fatalf("a refused upload changed the profile: %v", p)
	}
	if names := a.storedPictures(); len(names) != 1 {
		t.Fatalf("a refused upload left files: %v", names)
	}
	// Registration refuses the same way and creates no user.
	r := a.multipart("POST", registerPath, "", part{name: "username", value: "bob"}, part{name: "email", value: "bob@example.com"},
		part{name: "password", value: goodPassword}, part{name: "password2", value: goodPassword},
		part{name: "profile_picture", fileName: "me.png", data: []byte("not an image")})
	wantBody(t, r, 400, `{"profile_picture":["`+msgInvalidImage+`"]}`)
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "bob", "password": goodPassword}), 400)
}

func TestPictureClearedAndDeleted(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for _, clear := range []func() *resp{
		func() *resp { return a.json("PATCH", profilePath, token, `{"profile_picture": null}`) },
		func() *resp { return a.form("PATCH", profilePath, token, "profile_picture=") },
		func() *resp { return a.multipart("PUT", profilePath, token, part{name: "profile_picture", value: ""}) },
	} {
		path := a.picture(token, "me.gif", gifBytes())
		r := clear()
		wantStatus(t, r, 200)
		if r.obj(t)["profile_picture"] != nil {
			t.Fatalf("picture not cleared: %s", r)
		}
		wantStatus(t, a.do("GET", path, nil), 404)
		if names := a.storedPictures(); len(names) != 0 {
			t.Fatalf("cleared picture still stored: %v", names)
		}
	}
	// At registration an empty text part means no picture.
	r := a.multipart("POST", registerPath, "", part{name: "username", value: "bob"}, part{name: "email", value: "bob@example.com"},
		part{name: "password", value: goodPassword}, part{name: "password2", value: goodPassword}, part{name: "profile_picture", value: ""})
	wantStatus(t, r, 201)
}

// TestPictureReencoded checks that metadata and trailing bytes of an
// upload never reach the stored file, and no part of the uploaded name
// reaches the disk.
func TestPictureReencoded(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	// An APP1 (EXIF) segment right after the JPEG start-of-image marker.
	exif := append([]byte("Exif\x00\x00"), "GPSLatitude=SECRET-POSITION"...)
	jpg := jpegBytes()
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(exif)+2))
	withExif := append(append(append([]byte{}, jpg[:2]...), append(seg, exif...)...), jpg[2:]...)
	trailing := append(pngBytes(), "TRAILING-SECRET"...)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"../../evil.jpg", withExif}, {"..%2F..%2Fevil.png", trailing}} {
		path := a.picture(token, tc.name, tc.data)
		body := a.do("GET", path, nil).body
		if bytes.Contains(body, []byte("SECRET")) {
			t.Fatalf("%s: stored file keeps the upload's extra bytes", tc.name)
		}
	}
	for _, name := range a.storedPictures() {
		if strings.Contains(name, "evil") {
			t.Fatalf("uploaded name reached the disk: %s", name)
		}
	}
	if _, err := os.Stat(filepath.Join(a.dir, "evil.jpg")); err == nil {
		t.Fatal("upload escaped the media folder")
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, func(c *config) { c.maxUpload = 1000 })
	_, token := a.register("alice")
	big := make([]byte, 5000)
	copy(big, pngBytes())
	r := a.multipart("PATCH", profilePath, token, part{name: "profile_picture", fileName: "big.png", data: big})
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	if d, _ := r.obj(t)["detail"].(string); !strings.Contains(d, "1000 bytes") {
		t.Fatalf("413 without a clear detail: %s", r)
	}
	huge := make([]byte, 3<<20)
	r = a.multipart("PATCH", profilePath, token, part{name: "profile_picture", fileName: "huge.png", data: huge})
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	if p := a.do("GET", profilePath, nil, authHeader(token)...).obj(t); p["profile_picture"] != nil {
		t.Fatalf("an oversized upload was stored: %v", p)
	}
}

// pngHeader is the start of a PNG that claims the given size: enough for
// the header to be read, with no pixels behind it.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// exifJPEG is a JPEG of img with an EXIF block that gives orientation o.
func exifJPEG(img image.Image, o uint16) []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	plain := b.Bytes()
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01") // big-endian, IFD at 8, one entry
	entry := make([]byte, 12)
	binary.BigEndian.PutUint16(entry[0:], 0x0112)
	binary.BigEndian.PutUint16(entry[2:], 3)
	binary.BigEndian.PutUint32(entry[4:], 1)
	binary.BigEndian.PutUint16(entry[8:], o)
	exif := append(append([]byte("Exif\x00\x00"), tiff...), append(entry, 0, 0, 0, 0)...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(exif)+2))
	return append(append(append([]byte{}, plain[:2]...), append(seg, exif...)...), plain[2:]...)
}

// TestPictureTurnedUpright uploads a photo whose EXIF says to turn it a
// quarter clockwise, as phones write portraits, and checks that what is
// stored is upright.
func TestPictureTurnedUpright(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	// 32×16, left half red, right half blue: upright it is 16×32, red on top.
	src := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for x := range 32 {
		for y := range 16 {
			c := color.RGBA{0, 0, 255, 255}
			if x < 16 {
				c = color.RGBA{255, 0, 0, 255}
			}
			src.Set(x, y, c)
		}
	}
	body := a.do("GET", a.picture(token, "portrait.jpg", exifJPEG(src, 6)), nil).body
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 16 || b.Dy() != 32 {
		t.Fatalf("stored %v, want 16×32", b)
	}
	if r, _, bl, _ := img.At(8, 4).RGBA(); r < bl {
		t.Fatal("the top is not the red half: the turn went the wrong way")
	}
	if r, _, bl, _ := img.At(8, 28).RGBA(); bl < r {
		t.Fatal("the bottom is not the blue half")
	}
}

func TestOrientInverses(t *testing.T) {
	t.Parallel()
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 9)
	}
	same := func(img image.Image) bool {
		if img.Bounds() != src.Bounds() {
			return false
		}
		for y := range 2 {
			for x := range 3 {
				if img.At(x, y) != src.At(x, y) {
					return false
				}
			}
		}
		return true
	}
	// Each pair undoes itself: mirrors and half turns twice, quarter turns
	// one way then the other.
	for _, pair := range [][2]int{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {7, 7}, {6, 8}, {8, 6}} {
		if !same(orient(orient(src, pair[0]), pair[1])) {
			t.Fatalf("orientation %d then %d is not the original", pair[0], pair[1])
		}
	}
	if got := orient(src, 6).Bounds(); got.Dx() != 2 || got.Dy() != 3 {
		t.Fatalf("a quarter turn of 3×2 gave %v", got)
	}
	if o := jpegOrientation(bytes.NewReader(exifJPEG(src, 8))); o != 8 {
		t.Fatalf("read orientation %d, want 8", o)
	}
	if o := jpegOrientation(bytes.NewReader(jpegBytes())); o != 1 {
		t.Fatalf("a JPEG without EXIF: orientation %d", o)
	}
}
