package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"image"
	"io"
)

// Phones store photos as the sensor saw them and say in EXIF how to turn
// them upright. Re-encoding drops EXIF, so the turn is applied to the pixels
// first; otherwise a portrait photo would show lying on its side.

// jpegOrientation reads the EXIF orientation (1 to 8) from the start of a
// JPEG; 1, upright, when there is none or it cannot be read.
func jpegOrientation(r io.Reader) int {
	br := bufio.NewReader(r)
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return 1
	}
	for range 64 { // EXIF comes right after the start; give up past the first segments
		var marker [2]byte
		if _, err := io.ReadFull(br, marker[:]); err != nil || marker[0] != 0xFF {
			return 1
		}
		if marker[1] == 0xDA || marker[1] == 0xD9 { // image data or end: no EXIF before it
			return 1
		}
		var size [2]byte
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return 1
		}
		n := int(binary.BigEndian.Uint16(size[:])) - 2
		if n < 0 {
			return 1
		}
		segment := make([]byte, n)
		if _, err := io.ReadFull(br, segment); err != nil {
			return 1
		}
		if marker[1] == 0xE1 && bytes.HasPrefix(segment, []byte("Exif\x00\x00")) {
			return tiffOrientation(segment[6:])
		}
	}
	return 1
}

// tiffOrientation finds tag 0x0112 in the first IFD of an EXIF TIFF block.
func tiffOrientation(b []byte) int {
	if len(b) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	ifd := int(order.Uint32(b[4:8]))
	if ifd < 8 || ifd+2 > len(b) {
		return 1
	}
	count := int(order.Uint16(b[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > len(b) {
			return 1
		}
		if order.Uint16(b[e:]) == 0x0112 && order.Uint16(b[e+2:]) == 3 { // orientation, a SHORT
			if o := int(order.Uint16(b[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// orient turns img upright for EXIF orientation o.
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	// from gives, for a pixel of the upright image, the pixel of img it shows.
	from := map[int]func(x, y int) (int, int){
		2: func(x, y int) (int, int) { return w - 1 - x, y },
		3: func(x, y int) (int, int) { return w - 1 - x, h - 1 - y },
		4: func(x, y int) (int, int) { return x, h - 1 - y },
		5: func(x, y int) (int, int) { return y, x },
		6: func(x, y int) (int, int) { return y, h - 1 - x },
		7: func(x, y int) (int, int) { return w - 1 - y, h - 1 - x },
		8: func(x, y int) (int, int) { return w - 1 - y, x },
	}[o]
	ow, oh := w, h
	if o >= 5 { // a quarter turn swaps the sides
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range oh {
		for x := range ow {
			sx, sy := from(x, y)
			out.Set(x, y, img.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return out
}
