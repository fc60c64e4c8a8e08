package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
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

// argonParams are argon2id's cost parameters.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultArgon is OWASP's recommended floor for argon2id: 19 MiB, two
// passes, one lane (about 30 ms on one core of the reference machine).
var defaultArgon = argonParams{memory: 19 * 1024, time: 2, threads: 1}

// hasher hashes and verifies passwords. It runs at most as many hashes at
// once as the work limit allows, so a flood of logins queues instead of
// taking memory without bound.
type hasher struct {
	params argonParams
	work   chan struct{}
	dummy  string // well-formed, matches no password; verified for unknown users
}

func newWorkLimit() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) }

func newHasher(p argonParams, work chan struct{}) *hasher {
	salt, sum := make([]byte, 16), make([]byte, 32)
	rand.Read(salt)
	rand.Read(sum)
	return &hasher{params: p, work: work, dummy: formatArgon2(p, salt, sum)}
}

// acquire waits for a work slot; release gives it back.
func acquire(ctx context.Context, work chan struct{}) error {
	select {
	case work <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(work chan struct{}) { <-work }

// hash returns the encoded argon2id hash of password, in the format of
// Django's Argon2PasswordHasher, so that parameters can change later and
// hashes stay readable by Django.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := acquire(ctx, h.work); err != nil {
		return "", err
	}
	defer release(h.work)
	return h.encode(password), nil
}

func (h *hasher) encode(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	p := h.params
	return formatArgon2(p, salt, argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, 32))
}

func formatArgon2(p argonParams, salt, sum []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("argon2$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// verify reports whether password matches encoded. An empty or unreadable
// encoded hash is checked against the dummy hash, taking the same time, and
// never matches.
func (h *hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	if err := acquire(ctx, h.work); err != nil {
		return false, err
	}
	defer release(h.work)
	p, salt, want, err := parseArgon2(encoded)
	if err != nil {
		p, salt, want, _ = parseArgon2(h.dummy)
		argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var errBadHash = errors.New("unreadable password hash")

// parseArgon2 reads an argon2id hash written by encode (or by Django).
func parseArgon2(encoded string) (argonParams, []byte, []byte, error) {
	var p argonParams
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "argon2" || fields[1] != "argon2id" || fields[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(fields[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, nil, nil, errBadHash
	}
	// Refuse costs no hash of ours has, so a tampered row cannot stall a login.
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || p.threads < 1 {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(fields[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(fields[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(sum) < 16 || len(sum) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, sum, nil
}
