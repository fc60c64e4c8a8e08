package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// djangoExpected is testdata/django/expected.json: what the Django
// reference app, through its ORM, says the fixture database holds.
type djangoExpected struct {
	Users []struct {
		ID       int64
		Username string
		Password string
		Hash     string
		Active   bool
		Picture  *string
		Token    string
	}
	Follows map[string]struct{ Followers, Following []string }
}

// djangoFixture copies testdata/django into a temp folder, so that nothing
// can change the committed files, and returns the copied database and
// media folder with the expectations.
func djangoFixture(t *testing.T) (db, media string, want djangoExpected) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "django"))); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "db.sqlite3"), filepath.Join(dir, "media"), want
}

// runImport runs the import-django subcommand as main would.
func runImport(args ...string) (stdout, stderr string, err error) {
	var out, errs strings.Builder
	err = run(context.Background(), append([]string{"socialapi", "import-django"}, args...),
		func(string) string { return "" }, nil, &out, &errs)
	return out.String(), errs.String(), err
}

// usernames reads a follow list, newest first.
func (a *app) usernames(path, token string) []string {
	a.t.Helper()
	r := a.do("GET", path+"?page_size=100", nil, authHeader(token)...)
	wantStatus(a.t, r, 200)
	var page struct{ Results []struct{ Username string } }
	if err := json.Unmarshal(r.body, &page); err != nil {
		a.t.Fatal(err)
	}
	names := []string{}
	for _, u := range page.Results {
		names = append(names, u.Username)
	}
	return names
}

// scalar runs a one-value query on the app's database.
func (a *app) scalar(query string, args ...any) string {
	a.t.Helper()
	var v any
	if err := a.db.r.QueryRow(query, args...).Scan(&v); err != nil {
		a.t.Fatalf("%s: %v", query, err)
	}
	return fmt.Sprint(v)
}

func TestImportDjango(t *testing.T) {
	t.Parallel()
	from, media, want := djangoFixture(t)
	dbPath := filepath.Join(t.TempDir(), "data", "db.sqlite3")
	stdout, stderr, err := runImport("-from", from, "-media", media, "-db", dbPath)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if want := "imported users=10 edges=9 tokens=7 pictures=3; skipped users=1 edges=2 tokens=1; errors=4\n"; stdout != want {
		t.Fatalf("summary:\n got %q\nwant %q\nstderr:\n%s", stdout, want, stderr)
	}
	for _, line := range []string{
		`user 4 (dave): picture "profile_pictures/broken.png" is not a valid PNG, JPEG or GIF image; imported without a picture`,
		`user 5 (erin): picture "profile_pictures/gone.png" is missing; imported without a picture`,
		`user 11 (judy): picture "../db.sqlite3" is outside the media folder; imported without a picture`,
		`user 9 (heidi): username differs only in case from user 8 (Heidi); skipped with its follows and token`,
		`follow 11: Django user 5 follows themselves; not imported`,
		`users 11/11`, `tokens 8/8`, `follows 12/12`,
	} {
		if !strings.Contains(stderr, "import-django: "+line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, stderr)
		}
	}

	a := newAppAt(t, filepath.Dir(dbPath), func(*config) {})
	imported := func(name string) bool { return name != "heidi" }

	t.Run("columns", func(t *testing.T) {
		got := a.scalar(`SELECT json_array(username, username_key, email, bio, is_active, is_staff, is_superuser,
			first_name, last_name, date_joined, last_login) FROM users WHERE id = 1`)
		if want := `["alice","alice","alice@example.com","I am alice.",1,1,1,"Alice","Liddell",` +
			`"2024-03-01T09:30:00.123456Z","2026-11-30T01:05:10.123456Z"]`; got != want {
			t.Fatalf("alice's row:\n got %s\nwant %s", got, want)
		}
		if got := a.scalar("SELECT json_array(username_key, date_joined, last_login) FROM users WHERE id = 2"); got != `["bob","2024-01-02T03:04:05.000000Z",null]` {
			t.Fatalf("bob's row: %s", got)
		}
		if got := a.scalar("SELECT json_array(username, username_key, is_active) FROM users WHERE id = 8"); got != `["Heidi","heidi",1]` {
			t.Fatalf("Heidi's row: %s", got)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		for _, u := range want.Users {
			if u.Token == "" {
				continue
			}
			r := a.do("GET", profilePath, nil, authHeader(u.Token)...)
			switch {
			case !imported(u.Username):
				wantBody(t, r, 401, `{"detail":"Invalid token."}`)
			case !u.Active:
				wantBody(t, r, 401, `{"detail":"User inactive or deleted."}`)
			default:
				wantStatus(t, r, 200)
				if m := r.obj(t); m["id"] != float64(u.ID) || m["username"] != u.Username {
					t.Errorf("%s's token is %s", u.Username, r)
				}
			}
		}
	})

	viewer := want.Users[0].Token // alice's
	t.Run("follows", func(t *testing.T) {
		active := map[string]bool{}
		for _, u := range want.Users {
			active[u.Username] = u.Active && imported(u.Username)
		}
		for _, u := range want.Users {
			if !active[u.Username] {
				continue
			}
			// What Django shows, less what cannot come over: heidi, and
			// erin's follow of herself. Lists and counts both leave out
			// inactive users, so that they agree.
			keep := func(names []string) []string {
				return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
					return !imported(n) || n == u.Username || !active[n]
				})
			}
			exp := want.Follows[u.Username]
			path := fmt.Sprintf("/api/accounts/users/%d/", u.ID)
			if got, w := a.usernames(path+"followers/", viewer), keep(exp.Followers); !slices.Equal(got, w) {
				t.Errorf("%s's followers: got %v, want %v", u.Username, got, w)
			}
			if got, w := a.usernames(path+"following/", viewer), keep(exp.Following); !slices.Equal(got, w) {
				t.Errorf("%s's following: got %v, want %v", u.Username, got, w)
			}
			m := a.do("GET", path, nil, authHeader(viewer)...).obj(t)
			if m["followers_count"] != float64(len(keep(exp.Followers))) || m["following_count"] != float64(len(keep(exp.Following))) {
				t.Errorf("%s's counts: %v", u.Username, m)
			}
		}
	})

	t.Run("pictures", func(t *testing.T) {
		// dave's is broken, erin's missing and judy's outside the media folder.
		pictured := map[string]string{"alice": "png", "bob": "jpg", "carol": "gif"}
		types := map[string]string{"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}
		for _, u := range want.Users {
			if !u.Active || !imported(u.Username) {
				continue
			}
			m := a.do("GET", fmt.Sprintf("/api/accounts/users/%d/", u.ID), nil, authHeader(viewer)...).obj(t)
			pic, _ := m["profile_picture"].(string)
			ext := pictured[u.Username]
			if ext == "" {
				if m["profile_picture"] != nil {
					t.Errorf("%s: want no picture, got %v", u.Username, m["profile_picture"])
				}
				continue
			}
			if !strings.HasPrefix(pic, a.url+"/media/profile_pictures/") || !strings.HasSuffix(pic, "."+ext) {
				t.Fatalf("%s: picture %q", u.Username, pic)
			}
			r := a.do("GET", strings.TrimPrefix(pic, a.url), nil)
			wantStatus(t, r, 200)
			if ct := r.header.Get("Content-Type"); ct != types[ext] {
				t.Errorf("%s: Content-Type %q", u.Username, ct)
			}
			if img, _, err := image.Decode(strings.NewReader(string(r.body))); err != nil || img.Bounds().Dx() != 8 {
				t.Errorf("%s: served picture does not decode as the 8×6 original: %v", u.Username, err)
			}
		}
	})

	t.Run("passwords", func(t *testing.T) {
		for _, u := range want.Users {
			login := func(password string) *resp {
				return a.json("POST", loginPath, "", map[string]any{"username": u.Username, "password": password})
			}
			if u.Hash == "unusable" || !u.Active || !imported(u.Username) {
				wantStatus(t, login(u.Password), 400)
				continue
			}
			before := a.scalar("SELECT password FROM users WHERE id = ?", u.ID)
			if !strings.HasPrefix(before, u.Hash+"$") {
				t.Fatalf("%s: Django's hash was not kept: %.20s…", u.Username, before)
			}
			if r := login(u.Password); r.status != 200 {
				t.Errorf("%s (%s): login: %s", u.Username, u.Hash, r)
				continue
			}
			after := a.scalar("SELECT password FROM users WHERE id = ?", u.ID)
			if !strings.HasPrefix(after, "argon2$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("%s: after login the hash is %.40s…, not our argon2id", u.Username, after)
			}
			wantStatus(t, login(u.Password), 200)
		}
	})

	t.Run("second import", func(t *testing.T) {
		_, _, err := runImport("-from", from, "-media", media, "-db", dbPath)
		if err == nil || !strings.Contains(err.Error(), "already has users (10); give -merge") {
			t.Fatalf("a second import without -merge: %v", err)
		}
		const counts = "SELECT json_array((SELECT count(*) FROM users), (SELECT count(*) FROM follows), " +
			"(SELECT count(*) FROM tokens), (SELECT sum(followers_count) FROM users))"
		before := a.scalar(counts)
		pictures, _ := os.ReadDir(filepath.Join(a.mediaDir, picturesDir))
		stdout, stderr, err := runImport("-from", from, "-media", media, "-db", dbPath, "-merge")
		if err != nil {
			t.Fatal(err)
		}
		if want := "imported users=0 edges=0 tokens=0 pictures=0; skipped users=11 edges=12 tokens=8; errors=0\n"; stdout != want {
			t.Fatalf("summary:\n got %q\nwant %q\n%s", stdout, want, stderr)
		}
		if !strings.Contains(stderr, "user 1 (alice): username taken here by user 1; skipped") {
			t.Errorf("skips not reported:\n%s", stderr)
		}
		if after := a.scalar(counts); after != before {
			t.Fatalf("a merge of the same data changed counts %s to %s", before, after)
		}
		if again, _ := os.ReadDir(filepath.Join(a.mediaDir, picturesDir)); len(again) != len(pictures) {
			t.Fatalf("a merge of the same data saved pictures again: %d files, then %d", len(pictures), len(again))
		}
	})
}

// TestImportDjangoMerge imports beside local users while a server runs on
// the same file: a taken username is skipped with its follows and token, a
// taken id is replaced and what refers to it follows, and the running
// server sees it all.
func TestImportDjangoMerge(t *testing.T) {
	t.Parallel()
	from, media, want := djangoFixture(t)
	a := newApp(t)
	_, bobToken := a.register("BOB")                                           // id 1, which Django's alice has; username of Django's bob
	a.register("zed")                                                          // id 2, which Django's bob has
	wantStatus(t, a.do("GET", profilePath, nil, authHeader(bobToken)...), 200) // now in the server's cache
	// Batches of four: a case clash and follows that cross batches.
	var out, errs strings.Builder
	o := importOptions{from: from, media: media, db: filepath.Join(a.dir, "db.sqlite3"), merge: true, maxUpload: 5 << 20, batch: 4}
	if err := o.run(context.Background(), &out, &errs); err != nil {
		t.Fatalf("import: %v\n%s", err, errs.String())
	}
	stdout, stderr := out.String(), errs.String()
	if want := "imported users=9 edges=6 tokens=6 pictures=2; skipped users=2 edges=5 tokens=2; errors=4\n"; stdout != want {
		t.Fatalf("summary:\n got %q\nwant %q\n%s", stdout, want, stderr)
	}
	for _, line := range []string{
		"user 1 (alice): id taken here; imported as user 12",
		"user 2 (bob): username taken here by user 1; skipped with its follows and token",
		"user 9 (heidi): username differs only in case from user 8 (Heidi)",
		"users 4/11\n", "users 8/11\n", "users 11/11\n", "tokens 4/8\n", "tokens 8/8\n", "follows 12/12\n",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr)
		}
	}
	alice := want.Users[0].Token
	if m := a.do("GET", profilePath, nil, authHeader(alice)...).obj(t); m["id"] != 12.0 || m["username"] != "alice" ||
		m["followers_count"] != 3.0 || m["following_count"] != 1.0 {
		t.Fatalf("alice after the merge: %v", m)
	}
	if got := a.usernames("/api/accounts/users/12/followers/", alice); !slices.Equal(got, []string{"ivan", "dave", "carol"}) {
		t.Fatalf("alice's followers: %v", got)
	}
	if got := a.usernames("/api/accounts/users/10/following/", alice); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("ivan's following: %v", got)
	}
	if m := a.do("GET", profilePath, nil, authHeader(bobToken)...).obj(t); m["username"] != "BOB" || m["followers_count"] != 0.0 {
		t.Fatalf("the local BOB after the merge: %v", m)
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": want.Users[0].Password}), 200)
	// New users go after every imported id.
	if id, _ := a.register("newcomer"); id != 13 {
		t.Fatalf("a registration after the import got id %d", id)
	}
}

func TestImportDjangoRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDjango := filepath.Join(dir, "other.sqlite3")
	st, err := openStore(notDjango) // a socialapi database: no Django tables
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	noColumns := filepath.Join(dir, "shop.sqlite3")
	other, err := sql.Open("sqlite", noColumns)
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Exec(`CREATE TABLE shop_user (id INTEGER PRIMARY KEY, username TEXT, password TEXT);
		CREATE TABLE shop_user_followers (id INTEGER PRIMARY KEY, from_user_id INTEGER, to_user_id INTEGER)`)
	other.Close()
	if err != nil {
		t.Fatal(err)
	}
	from, media, _ := djangoFixture(t)
	db := filepath.Join(dir, "db.sqlite3")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no -from", []string{"-db", db}, "-from is required"},
		{"missing file", []string{"-from", filepath.Join(dir, "nope.sqlite3"), "-db", db}, "no such file"},
		{"missing tables", []string{"-from", notDjango, "-db", db}, "has no Django user table: expected <app>_user (accounts_user"},
		{"missing columns", []string{"-from", noColumns, "-db", db}, "table shop_user lacks the columns last_login, is_superuser, first_name"},
		{"missing media", []string{"-from", from, "-media", media + "-nope", "-db", db}, "media folder"},
		{"same file", []string{"-from", from, "-db", from}, "-from and -db are the same file"},
		{"stray argument", []string{"-from", from, "-db", db, "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runImport(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("want one line with %q, got %v", tc.want, err)
			}
		})
	}
	var usage strings.Builder
	if err := run(context.Background(), []string{"socialapi", "import-django", "-h"}, func(string) string { return "" }, nil, io.Discard, &usage); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, flag := range []string{"-from", "-media", "-merge", "-db", "SOCIALAPI_DB"} {
		if !strings.Contains(usage.String(), flag) {
			t.Errorf("usage lacks %s:\n%s", flag, usage.String())
		}
	}
}

func TestDjangoTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2026-11-30 01:05:10.123456":       "2026-11-30T01:05:10.123456Z",
		"2026-11-30 01:05:10":              "2026-11-30T01:05:10.000000Z",
		"2026-11-30 01:05:10.5+00:00":      "2026-11-30T01:05:10.500000Z",
		"2026-11-30T02:05:10.123456+01:00": "2026-11-30T01:05:10.123456Z",
	} {
		if got, err := djangoTime(in); err != nil || got != want {
			t.Errorf("djangoTime(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := djangoTime("yesterday"); err == nil {
		t.Error("an unreadable datetime was accepted")
	}
}

// TestImportPicturePaths checks that a picture path is read only inside the
// media folder, whether it leads out by "..", by an absolute path or by a
// symbolic link, and that a good picture is saved under a new name.
func TestImportPicturePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	media := filepath.Join(dir, "media")
	if err := os.MkdirAll(filepath.Join(media, "profile_pictures"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"secret.png":                   pngBytes(),
		"media/profile_pictures/a.png": pngBytes(),
		"media/profile_pictures/e.png": {},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../../secret.png", filepath.Join(media, "profile_pictures", "link.png")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(media)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	pics := &server{log: slog.New(slog.DiscardHandler), mediaDir: filepath.Join(dir, "out"), maxUpload: 5 << 20, work: newWorkLimit()}
	if err := pics.prepareMedia(); err != nil {
		t.Fatal(err)
	}
	imp := &djangoImport{pics: pics, media: root}
	for rel, want := range map[string]string{
		"../secret.png":                     "is outside the media folder",
		filepath.Join(dir, "secret.png"):    "is outside the media folder",
		"profile_pictures/link.png":         "cannot be read",
		"profile_pictures/missing.png":      "is missing",
		"profile_pictures/e.png":            "is empty",
		"profile_pictures":                  "is not a regular file",
		"profile_pictures/../../secret.png": "is outside the media folder",
	} {
		problem, name, err := imp.savePicture(context.Background(), rel)
		if err != nil || name != "" || !strings.HasPrefix(problem, want) {
			t.Errorf("%s: got %q, %q, %v; want %q", rel, problem, name, err, want)
		}
	}
	problem, name, err := imp.savePicture(context.Background(), "profile_pictures/a.png")
	if err != nil || problem != "" || !pictureName.MatchString(name) {
		t.Fatalf("a good picture: %q, %q, %v", problem, name, err)
	}
	if _, err := os.Stat(filepath.Join(pics.mediaDir, picturesDir, name)); err != nil {
		t.Fatal(err)
	}
}
