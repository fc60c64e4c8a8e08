package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestRegisterJSON(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	body := regBody("alice", "alice@example.com", goodPassword)
	body["bio"] = "Hello <b>&</b> ✓"
	body["is_staff"] = true
	body["followers"] = []int{1}
	r := a.json("POST", registerPath, "", body)
	wantStatus(t, r, http.StatusCreated)
	m := r.obj(t)
	token, _ := m["token"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(token) {
		t.Fatalf("token is not 40 hex characters: %q", token)
	}
	user, _ := m["user"].(map[string]any)
	want := `{"id":1,"username":"alice","email":"alice@example.com","bio":"Hello <b>&</b> ✓","profile_picture":null,"followers_count":0,"following_count":0}`
	wantBody(t, &resp{status: 201, header: r.header, body: mustJSON(t, user)}, 201, want)
	if !strings.Contains(string(r.body), `"bio":"Hello <b>&</b> ✓"`) {
		t.Fatalf("JSON is HTML-escaped or ASCII-escaped, unlike DRF: %s", r.body)
	}
	wantBody(t, a.do("GET", profilePath, nil, authHeader(token)...), 200, want)
}

func TestRegisterFormEncoded(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	r := a.form("POST", registerPath, "", url.Values{
		"username": {"dave"}, "email": {"dave@example.com"}, "password": {goodPassword}, "password2": {goodPassword}, "bio": {"form bio"},
	}.Encode())
	wantStatus(t, r, http.StatusCreated)
	if u := r.obj(t)["user"].(map[string]any); u["email"] != "dave@example.com" || u["bio"] != "form bio" {
		t.Fatalf("form fields not read: %s", r)
	}
}

func TestRegisterMultipartWithPicture(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	r := a.multipart("POST", registerPath, "",
		part{name: "username", value: "carol"}, part{name: "email", value: "carol@example.com"},
		part{name: "password", value: goodPassword}, part{name: "password2", value: goodPassword},
		part{name: "bio", value: "pics"}, part{name: "profile_picture", fileName: "pic.png", data: pngBytes()})
	wantStatus(t, r, http.StatusCreated)
	u := r.obj(t)["user"].(map[string]any)
	pic, _ := u["profile_picture"].(string)
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/media/profile_pictures/[0-9a-f]{32}\.png$`).MatchString(pic) {
		t.Fatalf("profile_picture is not an absolute URL to a random name: %q", pic)
	}
	if u["bio"] != "pics" {
		t.Fatalf("bio lost: %s", r)
	}
}

// TestRegisterValidation checks each registration rule; every case starts
// from a valid body and changes one thing.
func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("v", n) }
	cases := []struct {
		name   string
		body   any // a map is merged over a valid body; a string is sent raw
		status int
		want   string
	}{
		{"empty object", "{}", 400, `{"username":["This field is required."],"email":["This field is required."],"password":["This field is required."],"password2":["This field is required."]}`},
		{"blank strings", map[string]any{"username": "", "email": "", "password": "", "password2": ""}, 400,
			`{"username":["This field may not be blank."],"email":["This field may not be blank."],"password":["This field may not be blank."],"password2":["This field may not be blank."]}`},
		{"nulls", map[string]any{"username": nil, "email": nil, "password": nil, "password2": nil}, 400,
			`{"username":["This field may not be null."],"email":["This field may not be null."],"password":["This field may not be null."],"password2":["This field may not be null."]}`},
		{"mismatch", map[string]any{"password2": goodPassword + "?"}, 400, `{"password":["Password fields didn't match."]}`},
		{"mismatch hidden by another error", map[string]any{"username": "bad name", "password2": "other"}, 400,
			`{"username":["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
		{"short", map[string]any{"password": "Ab1!x", "password2": "Ab1!x"}, 400, `{"password":["This password is too short. It must contain at least 8 characters."]}`},
		{"common", map[string]any{"password": "password123", "password2": "password123"}, 400, `{"password":["This password is too common."]}`},
		{"common ignoring case", map[string]any{"password": "PassWord123", "password2": "PassWord123"}, 400, `{"password":["This password is too common."]}`},
		{"numeric", map[string]any{"password": "83927461950", "password2": "83927461950"}, 400, `{"password":["This password is entirely numeric."]}`},
		{"short common numeric", map[string]any{"password": "1234", "password2": "1234"}, 400,
			`{"password":["This password is too short. It must contain at least 8 characters.","This password is too common.","This password is entirely numeric."]}`},
		{"similar to username", map[string]any{"username": "frankfurter77", "password": "frankfurter77", "password2": "frankfurter77"}, 400,
			`{"password":["The password is too similar to the username."]}`},
		{"similar to email", map[string]any{"email": "gertrude.smithers@example.com", "password": "Smithers.Gertrude", "password2": "Smithers.Gertrude"}, 400,
			`{"password":["The password is too similar to the email address."]}`},
		{"password over 4096 bytes", map[string]any{"password": strings.Repeat("é", 2049), "password2": strings.Repeat("é", 2049)}, 400,
			`{"password":["Ensure this field has no more than 4096 bytes."]}`},
		{"password not trimmed", map[string]any{"password": " " + goodPassword, "password2": goodPassword}, 400, `{"password":["Password fields didn't match."]}`},
		{"invalid email", map[string]any{"email": "not-an-email"}, 400, `{"email":["Enter a valid email address."]}`},
		{"email 255", map[string]any{"email": long(243) + "@example.com"}, 400, `{"email":["Ensure this field has no more than 254 characters."]}`},
		{"username 151", map[string]any{"username": long(151)}, 400, `{"username":["Ensure this field has no more than 150 characters."]}`},
		{"username chars", map[string]any{"username": "bad name!"}, 400,
			`{"username":["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
		{"username emoji", map[string]any{"username": "smile😀"}, 400,
			`{"username":["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
		{"NUL in username", map[string]any{"username": "a\x00b"}, 400,
			`{"username":["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.","Null characters are not allowed."]}`},
		{"NUL in password", map[string]any{"password": "Sup3r\x00Secret!", "password2": "Sup3r\x00Secret!"}, 400,
			`{"password":["Null characters are not allowed."],"password2":["Null characters are not allowed."]}`},
		{"NUL in email", map[string]any{"email": "a\x00@example.com"}, 400, `{"email":["Null characters are not allowed.","Enter a valid email address."]}`},
		{"NUL in bio", map[string]any{"bio": "a\x00b"}, 400, `{"bio":["Null characters are not allowed."]}`},
		{"bio 1001", map[string]any{"bio": long(1001)}, 400, `{"bio":["Ensure this field has no more than 1000 characters."]}`},
		{"bio object", map[string]any{"bio": map[string]int{"a": 1}}, 400, `{"bio":["Not a valid string."]}`},
		{"bio null", map[string]any{"bio": nil}, 400, `{"bio":["This field may not be null."]}`},
		{"picture as JSON string", map[string]any{"profile_picture": "http://x/y.png"}, 400,
			`{"profile_picture":["The submitted data was not a file. Check the encoding type on the form."]}`},
		{"array body", "[1,2]", 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
		{"string body", `"x"`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}`},
		{"number body", `12`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}`},
	}
	a := newApp(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if m, ok := tc.body.(map[string]any); ok {
				merged := regBody("erin", "erin@example.com", goodPassword)
				for k, v := range m {
					merged[k] = v
				}
				body = merged
			}
			wantBody(t, a.json("POST", registerPath, "", body), tc.status, tc.want)
		})
	}
	// None of the refused bodies created a user.
	var n int
	a.db.r.QueryRow("SELECT count(*) FROM users").Scan(&n)
	if n != 0 {
		t.Fatalf("refused registrations left %d users", n)
	}
}

func TestRegisterAccepts(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, tc := range []struct {
		name, username, stored string
	}{
		{"150 characters", strings.Repeat("v", 150), strings.Repeat("v", 150)},
		{"punctuation and Unicode letters", "Zoë.o+k@x-_1", "Zoë.o+k@x-_1"},
		{"NFKC normalised", "ｆｕｌｌｗｉｄｔｈ", "fullwidth"},
		{"decomposed accents composed", "Jose\u0301", "José"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.json("POST", registerPath, "", regBody(tc.username, "x@example.com", goodPassword))
			wantStatus(t, r, http.StatusCreated)
			if got := r.obj(t)["user"].(map[string]any)["username"]; got != tc.stored {
				t.Fatalf("want username %q, got %q", tc.stored, got)
			}
		})
	}
	// Surrounding white space is trimmed from text fields but not passwords;
	// numbers are read as their text, as DRF's CharField does.
	body := regBody("  trimmed  ", " trimmed@example.com ", goodPassword)
	body["bio"] = 42
	r := a.json("POST", registerPath, "", body)
	wantStatus(t, r, http.StatusCreated)
	u := r.obj(t)["user"].(map[string]any)
	if u["username"] != "trimmed" || u["email"] != "trimmed@example.com" || u["bio"] != "42" {
		t.Fatalf("fields not trimmed or coerced: %s", r)
	}
	// Email is not unique.
	wantStatus(t, a.json("POST", registerPath, "", regBody("other", "trimmed@example.com", goodPassword)), 201)
}

func TestUsernameUniqueIgnoringCase(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.register("Alice")
	for _, name := range []string{"Alice", "alice", "ALICE", "ａｌｉｃｅ"} {
		r := a.json("POST", registerPath, "", regBody(name, "other@example.com", "An0ther-Secret!"))
		wantBody(t, r, 400, `{"username":["A user with that username already exists."]}`)
	}
	// The original spelling is kept for display, and login takes any case.
	r := a.json("POST", loginPath, "", map[string]any{"username": "aLiCe", "password": goodPassword})
	wantStatus(t, r, http.StatusOK)
	if r.obj(t)["username"] != "Alice" {
		t.Fatalf("want the registered spelling, got %s", r)
	}
}

func TestRegisterConcurrentSameUsername(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	const n = 40
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.json("POST", registerPath, "", regBody("racer", "racer@example.com", goodPassword))
			statuses[i] = r.status
			if r.status == 400 && !strings.Contains(string(r.body), "already exists") {
				t.Errorf("loser got %s", r)
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[400] != n-1 {
		t.Fatalf("want one 201 and %d 400s, got %v", n-1, count)
	}
}

func TestProfileUpdate(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	userWith := func(email, bio string) string {
		return fmt.Sprintf(`{"id":1,"username":"alice","email":%q,"bio":%q,"profile_picture":null,"followers_count":0,"following_count":0}`, email, bio)
	}
	wantBody(t, a.json("PATCH", profilePath, token, map[string]any{"bio": "New bio"}), 200, userWith("alice@example.com", "New bio"))
	// PUT is a partial update too.
	wantBody(t, a.json("PUT", profilePath, token, map[string]any{"email": "a2@example.com"}), 200, userWith("a2@example.com", "New bio"))
	// Read-only and unknown keys are ignored.
	wantBody(t, a.json("PATCH", profilePath, token, map[string]any{
		"id": 999, "username": "mallory", "password": "Changed-Pass-1", "followers_count": 50, "is_staff": true,
	}), 200, userWith("a2@example.com", "New bio"))
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": goodPassword}), 200)
	// Form-encoded updates, bio coerced from a number.
	wantBody(t, a.form("PATCH", profilePath, token, "bio=from+a+form"), 200, userWith("a2@example.com", "from a form"))
	wantBody(t, a.json("PATCH", profilePath, token, `{"bio": 42}`), 200, userWith("a2@example.com", "42"))
	// A refused update changes nothing, even the fields that were valid.
	for _, tc := range []struct{ body, want string }{
		{`{"email": "nope", "bio": "should not stick"}`, `{"email":["Enter a valid email address."]}`},
		{`{"email": ""}`, `{"email":["This field may not be blank."]}`},
		{`{"email": null}`, `{"email":["This field may not be null."]}`},
		{`{"bio": null}`, `{"bio":["This field may not be null."]}`},
		{`{"bio": true}`, `{"bio":["Not a valid string."]}`},
		{`{"profile_picture": "x.png"}`, `{"profile_picture":["The submitted data was not a file. Check the encoding type on the form."]}`},
		{`[]`, `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
	} {
		wantBody(t, a.json("PATCH", profilePath, token, tc.body), 400, tc.want)
	}
	wantBody(t, a.do("GET", profilePath, nil, authHeader(token)...), 200, userWith("a2@example.com", "42"))
}

func TestProfileIsPerToken(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, ta := a.register("anna")
	_, tb := a.register("bert")
	wantStatus(t, a.json("PATCH", profilePath, ta, map[string]any{"bio": "only A"}), 200)
	if m := a.do("GET", profilePath, nil, authHeader(tb)...).obj(t); m["username"] != "bert" || m["bio"] != "" {
		t.Fatalf("B sees %v", m)
	}
}
