package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
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
	dummy  passwordCheck // matches no password; run for unknown users and unusable hashes
}

func newWorkLimit() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) }

func newHasher(p argonParams, work chan struct{}) *hasher {
	salt, sum := make([]byte, 16), make([]byte, 32)
	rand.Read(salt)
	rand.Read(sum)
	return &hasher{params: p, work: work, dummy: argonHash{id: true, params: p, salt: salt, sum: sum}.check}
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

// Our argon2id hashes have a salt and a key of these sizes, in bytes.
const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

func (h *hasher) encode(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	p := h.params
	return formatArgon2(p, salt, argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argonKeyLen))
}

func formatArgon2(p argonParams, salt, sum []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("argon2$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// verify reports whether password matches encoded, which may be any hash
// parseHash reads. An empty, unusable or unreadable hash never matches, and
// costs the same as one of ours: the dummy hash is checked instead.
func (h *hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	if err := acquire(ctx, h.work); err != nil {
		return false, err
	}
	defer release(h.work)
	check, err := parseHash(encoded)
	if err != nil {
		h.dummy(password)
		return false, nil
	}
	return check(password), nil
}

// current reports whether encoded is an argon2id hash as this hasher makes
// them now. Any other hash is replaced after the next successful login.
func (h *hasher) current(encoded string) bool {
	a, err := parseArgon2(encoded)
	return err == nil && a.id && a.params == h.params && len(a.salt) == argonSaltLen && len(a.sum) == argonKeyLen
}

var errBadHash = errors.New("unreadable password hash")

// passwordCheck reports whether a password matches one parsed hash.
type passwordCheck func(password string) bool

// Bounds on what a stored hash may ask for, far above what Django or this
// program writes (Django 6.0: 1,200,000 PBKDF2 iterations, bcrypt cost 12,
// argon2 at 100 MiB and two passes), so that a tampered or hostile row
// cannot make one login cost more than a second or two.
const (
	maxPBKDF2Iterations = 5_000_000
	maxBcryptCost       = 14
	maxArgonMemory      = 256 << 10 // KiB
	maxArgonWork        = 1 << 20   // memory × passes, in KiB
	maxArgonThreads     = 64
)

// parseHash reads a password hash in one of the formats Django's hashers
// write, of which argon2id is our own: "pbkdf2_sha256$" and
// "pbkdf2_sha1$" (iterations, salt, base64 key), "argon2$" (argon2id or
// the older argon2i, version 19), "bcrypt_sha256$" (bcrypt of the hex
// SHA-256 of the password) and "md5$" (salt, hex MD5 of salt and password;
// an empty salt is Django's unsalted MD5). Anything else, an unusable
// password ("!…") included, is errBadHash, as is a cost beyond the bounds.
func parseHash(encoded string) (passwordCheck, error) {
	algorithm, rest, _ := strings.Cut(encoded, "$")
	switch algorithm {
	case "argon2":
		a, err := parseArgon2(encoded)
		if err != nil {
			return nil, err
		}
		return a.check, nil
	case "pbkdf2_sha256":
		return parsePBKDF2(rest, sha256.New)
	case "pbkdf2_sha1":
		return parsePBKDF2(rest, sha1.New)
	case "bcrypt_sha256":
		return parseBcryptSHA256(rest)
	case "md5":
		return parseMD5(rest)
	}
	return nil, errBadHash
}

// argonHash is a parsed argon2 hash.
type argonHash struct {
	id        bool // argon2id; otherwise argon2i
	params    argonParams
	salt, sum []byte
}

func (a argonHash) check(password string) bool {
	p, key := a.params, argon2.Key
	if a.id {
		key = argon2.IDKey
	}
	got := key([]byte(password), a.salt, p.time, p.memory, p.threads, uint32(len(a.sum)))
	return subtle.ConstantTimeCompare(got, a.sum) == 1
}

// parseArgon2 reads an argon2 hash written by encode or by Django:
// "argon2$argon2id$v=19$m=…,t=…,p=…$salt$key", or argon2i for hashes from
// before Django 1.11. The version-less hashes of argon2 1.0 are refused.
func parseArgon2(encoded string) (argonHash, error) {
	var a argonHash
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "argon2" || fields[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return a, errBadHash
	}
	switch fields[1] {
	case "argon2id":
		a.id = true
	case "argon2i":
	default:
		return a, errBadHash
	}
	p := &a.params
	var rest string // whatever follows p=, which must be nothing but the "$" added
	if n, _ := fmt.Sscanf(fields[3]+"$", "m=%d,t=%d,p=%d%s", &p.memory, &p.time, &p.threads, &rest); n != 4 || rest != "$" {
		return a, errBadHash
	}
	if p.memory < 8 || p.memory > maxArgonMemory || p.time < 1 || uint64(p.memory)*uint64(p.time) > maxArgonWork ||
		p.threads < 1 || p.threads > maxArgonThreads {
		return a, errBadHash
	}
	var err1, err2 error
	a.salt, err1 = base64.RawStdEncoding.DecodeString(fields[4])
	a.sum, err2 = base64.RawStdEncoding.DecodeString(fields[5])
	if err1 != nil || err2 != nil || len(a.salt) < 8 || len(a.sum) < 16 || len(a.sum) > 64 {
		return a, errBadHash
	}
	return a, nil
}

// parsePBKDF2 reads the rest of Django's "pbkdf2_<hash>$iterations$salt$key",
// the key in padded base64. The salt is used as the text it is.
func parsePBKDF2[H hash.Hash](rest string, newHash func() H) (passwordCheck, error) {
	fields := strings.Split(rest, "$")
	if len(fields) != 3 || fields[1] == "" {
		return nil, errBadHash
	}
	iterations, err := strconv.Atoi(fields[0])
	if err != nil || iterations < 1 || iterations > maxPBKDF2Iterations || strconv.Itoa(iterations) != fields[0] {
		return nil, errBadHash
	}
	want, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil || len(want) != newHash().Size() {
		return nil, errBadHash
	}
	salt := []byte(fields[1])
	return func(password string) bool {
		got, err := pbkdf2.Key(newHash, password, salt, iterations, len(want))
		return err == nil && subtle.ConstantTimeCompare(got, want) == 1
	}, nil
}

// parseBcryptSHA256 reads the rest of Django's "bcrypt_sha256$$2b$…": a
// bcrypt hash of the hex SHA-256 of the password, which keeps passwords
// longer than bcrypt's 72 bytes whole.
func parseBcryptSHA256(rest string) (passwordCheck, error) {
	stored := []byte(rest)
	cost, err := bcrypt.Cost(stored)
	if err != nil || cost > maxBcryptCost {
		return nil, errBadHash
	}
	return func(password string) bool {
		sum := sha256.Sum256([]byte(password))
		return bcrypt.CompareHashAndPassword(stored, []byte(hex.EncodeToString(sum[:]))) == nil
	}, nil
}

// parseMD5 reads the rest of Django's "md5$salt$hex".
func parseMD5(rest string) (passwordCheck, error) {
	salt, sum, ok := strings.Cut(rest, "$")
	want, err := hex.DecodeString(sum)
	if !ok || err != nil || len(want) != md5.Size {
		return nil, errBadHash
	}
	return func(password string) bool {
		got := md5.Sum([]byte(salt + password))
		return subtle.ConstantTimeCompare(got[:], want) == 1
	}, nil
}
