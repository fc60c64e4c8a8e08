package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// djangoVectors are hashes made by Django 3.2's own hashers (argon2i by
// argon2-cffi in the format Django 1.10 wrote), at low costs so the test
// stays fast. The fixture in testdata/django has them at Django's defaults.
var djangoVectors = []struct{ name, password, encoded string }{
	{"pbkdf2_sha256", "correct horse battery staple", "pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA="},
	{"pbkdf2_sha256 non-ASCII", "pässwörd ✓", "pbkdf2_sha256$1000$seasalt$ABvFp+v377Hh1RXMH+y4cbMHz/scCkl9J8/53ppe+Kg="},
	{"pbkdf2_sha1", "correct horse battery staple", "pbkdf2_sha1$1000$seasalt$9iRYj0as1r5j+cCBxB+HMlxkyr4="},
	{"argon2id", "correct horse battery staple", "argon2$argon2id$v=19$m=64,t=1,p=2$c2Vhc2FsdHNlYXNhbHQ$bbSfdZGKyY7nLdQWGLR9HA"},
	{"argon2i", "correct horse battery staple", "argon2$argon2i$v=19$m=32,t=2,p=1$c2Vhc2FsdHNlYXNhbHQ$VBok/TuJCyASMW86FzFZVQ"},
	{"bcrypt_sha256", "correct horse battery staple", "bcrypt_sha256$$2b$04$EYLPOnpOmFxqyuNtADgXiejD6nWcr3Ilt9VdDsQmk.OCxxTazwJxC"},
	{"bcrypt_sha256 non-ASCII", "pässwörd ✓", "bcrypt_sha256$$2b$04$JicffySrmiWgklk2npAcNevpPJPTp3Qyd6w.ruG7wapvjS3.aKfk6"},
	{"bcrypt_sha256 past 72 bytes", strings.Repeat("x", 100), "bcrypt_sha256$$2b$04$3MuxkrB9je2uz1f7j06/L.LwFJkuQGBpNvRWNpPmkrx37jx6K1H8a"},
	{"md5", "correct horse battery staple", "md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a"},
	{"md5 non-ASCII", "pässwörd ✓", "md5$seasalt$5bf6f57fc9c6fec7b92a57e9acf94097"},
	{"unsalted md5", "correct horse battery staple", "md5$$9cc2ae8a1ba7a93da39b46fc1019c481"},
}

func TestVerifyDjangoHashes(t *testing.T) {
	t.Parallel()
	h := newHasher(testArgon, newWorkLimit())
	ctx := context.Background()
	for _, v := range djangoVectors {
		t.Run(v.name, func(t *testing.T) {
			for _, tc := range []struct {
				password string
				want     bool
			}{
				{v.password, true},
				{v.password + "x", false},
				{strings.ToUpper(v.password), false},
				{"", false},
			} {
				if ok, err := h.verify(ctx, v.encoded, tc.password); err != nil || ok != tc.want {
					t.Errorf("verify(%q): got %v, %v; want %v", tc.password, ok, err, tc.want)
				}
			}
			if h.current(v.encoded) {
				t.Errorf("%s counts as current: it would never be replaced", v.encoded)
			}
		})
	}
}

func TestCurrentHash(t *testing.T) {
	t.Parallel()
	h := newHasher(testArgon, newWorkLimit())
	ours, err := h.hash(context.Background(), "secret")
	if err != nil {
		t.Fatal(err)
	}
	if !h.current(ours) {
		t.Fatalf("our own hash %s is not current", ours)
	}
	if ok, _ := h.verify(context.Background(), ours, "secret"); !ok {
		t.Fatal("our own hash does not verify")
	}
	// The same password at other parameters is stale.
	other := newHasher(argonParams{memory: 128, time: 1, threads: 1}, newWorkLimit())
	if other.current(ours) {
		t.Fatal("a hash at other parameters counts as current")
	}
}

// TestRefusedHashes checks that unusable, unknown and over-costly hashes
// are not read, so never match, and that refusing one costs about what a
// wrong password on a real hash does: the dummy hash runs in its place.
// It does not run in parallel, so that other tests do not skew its timing.
func TestRefusedHashes(t *testing.T) {
	for _, encoded := range []string{
		"",
		"!" + strings.Repeat("a", 40), // Django's unusable password
		"pbkdf2_sha256$1000000000$salt$" + strings.Repeat("A", 44), // iterations past the bound
		"pbkdf2_sha256$-1$salt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=",
		"pbkdf2_sha256$1000$salt$c2hvcnQ=", // a key of the wrong size
		"bcrypt_sha256$$2b$31$EYLPOnpOmFxqyuNtADgXiejD6nWcr3Ilt9VdDsQmk.OCxxTazwJxC",
		"argon2$argon2id$v=19$m=4194304,t=1,p=1$c2Vhc2FsdHNlYXNhbHQ$bbSfdZGKyY7nLdQWGLR9HA",
		"argon2$argon2id$v=19$m=65536,t=1000,p=1$c2Vhc2FsdHNlYXNhbHQ$bbSfdZGKyY7nLdQWGLR9HA",
		"argon2$argon2id$v=19$m=64,t=1,p=255$c2Vhc2FsdHNlYXNhbHQ$bbSfdZGKyY7nLdQWGLR9HA",
		"argon2$argon2id$v=19$m=64,t=1,p=2,x=1$c2Vhc2FsdHNlYXNhbHQ$bbSfdZGKyY7nLdQWGLR9HA",
		"argon2$argon2d$v=19$m=64,t=1,p=2$c2Vhc2FsdHNlYXNhbHQ$bbSfdZGKyY7nLdQWGLR9HA",
		"argon2$argon2i$m=512,t=2,p=2$c2Vhc2FsdHNlYXNhbHQ$VBok/TuJCyASMW86FzFZVQ", // argon2 1.0, no version
		"md5$seasalt$nothex",
		"sha1$seasalt$0123456789abcdef0123456789abcdef01234567", // a hasher not read here
	} {
		if _, err := parseHash(encoded); err == nil {
			t.Errorf("parseHash(%q) accepted it", encoded)
		}
	}

	h := newHasher(argonParams{memory: 16 * 1024, time: 2, threads: 1}, newWorkLimit())
	ctx := context.Background()
	real, err := h.hash(ctx, "the password")
	if err != nil {
		t.Fatal(err)
	}
	timeVerify := func(encoded string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			if ok, err := h.verify(ctx, encoded, "a guess"); ok || err != nil {
				t.Fatalf("%q: got %v, %v", encoded, ok, err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	base := timeVerify(real)
	for _, encoded := range []string{"", "!" + strings.Repeat("a", 40)} {
		if d := timeVerify(encoded); d < base/3 {
			t.Errorf("verify(%q) took %v, a wrong password on a real hash %v: it skips the hash", encoded, d, base)
		}
	}
}
