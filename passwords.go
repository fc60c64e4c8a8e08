package main

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// commonPasswordsGz is Django's list of the 20,000 most common passwords.
//
//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

// maxPasswordBytes bounds what is hashed.
const maxPasswordBytes = 4096

// passwordPolicy is Django's four default password validators.
type passwordPolicy struct {
	common map[string]struct{}
}

func newPasswordPolicy() (*passwordPolicy, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	p := &passwordPolicy{common: map[string]struct{}{}}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			p.common[strings.ToLower(line)] = struct{}{}
		}
	}
	return p, nil
}

// check adds to fe[field] every message Django's validators give for
// password, in their order: similarity to the user's attributes (a map
// from the attribute's name, as the message says it, to its value),
// minimum length, commonness, all digits. Unlike the Django original, whose
// serializer gives the similarity validator no user, this one runs.
func (p *passwordPolicy) check(fe fieldErrors, field, password string, attrs map[string]string) {
	for _, name := range []string{"username", "email address"} {
		if tooSimilar(password, attrs[name]) {
			fe.add(field, "The password is too similar to the "+name+".")
			break
		}
	}
	fe.check(field, utf8.RuneCountInString(password) < 8, "This password is too short. It must contain at least 8 characters.")
	_, common := p.common[strings.ToLower(strings.TrimSpace(password))]
	fe.check(field, common, "This password is too common.")
	fe.check(field, strings.IndexFunc(password, func(r rune) bool { return !unicode.IsDigit(r) }) < 0, "This password is entirely numeric.")
	fe.check(field, len(password) > maxPasswordBytes, fmt.Sprintf("Ensure this field has no more than %d bytes.", maxPasswordBytes))
	fe.check(field, strings.ContainsRune(password, 0), msgNULChar)
}

// maxSimilarity is Django's UserAttributeSimilarityValidator threshold.
const maxSimilarity = 0.7

var nonWord = regexp.MustCompile(`[^\p{L}\p{N}_]+`)

// tooSimilar is Django's UserAttributeSimilarityValidator for one attribute:
// the password against the whole value and each of its word parts, by
// difflib's quick_ratio, skipping parts far shorter than the password.
func tooSimilar(password, value string) bool {
	if value == "" {
		return false
	}
	password, value = strings.ToLower(password), strings.ToLower(value)
	pw := []rune(password)
	for _, part := range append(nonWord.Split(value, -1), value) {
		pr := []rune(part)
		if len(pw) >= 10*len(pr) && float64(len(pr)) < maxSimilarity/2*float64(len(pw)) {
			continue
		}
		if quickRatio(pw, pr) >= maxSimilarity {
			return true
		}
	}
	return false
}

// quickRatio is difflib.SequenceMatcher.quick_ratio: twice the size of the
// multiset intersection of a and b over their total length.
func quickRatio(a, b []rune) float64 {
	if len(a)+len(b) == 0 {
		return 1
	}
	avail := map[rune]int{}
	for _, r := range b {
		avail[r]++
	}
	matches := 0
	for _, r := range a {
		if avail[r] > 0 {
			avail[r]--
			matches++
		}
	}
	return 2 * float64(matches) / float64(len(a)+len(b))
}
