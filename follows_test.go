package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func followPath(id any) string   { return fmt.Sprintf("/api/accounts/follow/%v/", id) }
func unfollowPath(id any) string { return fmt.Sprintf("/api/accounts/unfollow/%v/", id) }
func userPath(id any) string     { return fmt.Sprintf("/api/accounts/users/%v/", id) }

// member is a registered user of a test.
type member struct {
	id    int64
	name  string
	token string
}

func (a *app) members(prefix string, n int) []member {
	a.t.Helper()
	out := make([]member, n)
	for i := range out {
		name := fmt.Sprintf("%s%02d", prefix, i)
		id, token := a.register(name)
		out[i] = member{id, name, token}
	}
	return out
}

func (a *app) follow(from, to member) *resp {
	a.t.Helper()
	return a.do("POST", followPath(to.id), nil, authHeader(from.token)...)
}

func (a *app) unfollow(from, to member) *resp {
	a.t.Helper()
	return a.do("POST", unfollowPath(to.id), nil, authHeader(from.token)...)
}

// publicUser is the JSON of PUBLIC_USER for user u as viewer sees it.
func publicUser(u member, bio string, followers, following int, isFollowing bool) string {
	return fmt.Sprintf(`{"id":%d,"username":%q,"bio":%q,"profile_picture":null,"followers_count":%d,"following_count":%d,"is_following":%v}`,
		u.id, u.name, bio, followers, following, isFollowing)
}

func TestFollowAndUnfollow(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	ms := a.members("user", 3)
	x, y, z := ms[0], ms[1], ms[2]
	for range 2 { // repeating changes nothing
		wantBody(t, a.follow(x, y), 200, `{"detail":"You are now following user01.","user":`+publicUser(y, "", 1, 0, true)+`}`)
	}
	wantBody(t, a.do("GET", userPath(y.id), nil, authHeader(x.token)...), 200, publicUser(y, "", 1, 0, true))
	wantBody(t, a.do("GET", userPath(y.id), nil, authHeader(z.token)...), 200, publicUser(y, "", 1, 0, false))
	wantBody(t, a.do("GET", userPath(x.id), nil, authHeader(y.token)...), 200, publicUser(x, "", 0, 1, false))
	p := a.do("GET", profilePath, nil, authHeader(x.token)...).obj(t)
	if p["following_count"] != 1.0 || p["followers_count"] != 0.0 {
		t.Fatalf("own profile counts: %v", p)
	}
	for range 2 {
		wantBody(t, a.unfollow(x, y), 200, `{"detail":"You have unfollowed user01.","user":`+publicUser(y, "", 0, 0, false)+`}`)
	}
	wantBody(t, a.unfollow(x, z), 200, `{"detail":"You have unfollowed user02.","user":`+publicUser(z, "", 0, 0, false)+`}`)
	if p := a.do("GET", profilePath, nil, authHeader(x.token)...).obj(t); p["following_count"] != 0.0 {
		t.Fatalf("own profile after unfollow: %v", p)
	}
	var edges int
	a.db.r.QueryRow("SELECT count(*) FROM follows").Scan(&edges)
	if edges != 0 {
		t.Fatalf("%d edges left", edges)
	}
}

func TestFollowRefusals(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	ms := a.members("user", 3)
	x, gone := ms[0], ms[2]
	wantBody(t, a.follow(x, x), 400, `{"detail":"You cannot follow yourself."}`)
	wantBody(t, a.unfollow(x, x), 400, `{"detail":"You cannot unfollow yourself."}`)
	if _, err := a.db.w.Exec("UPDATE users SET is_active = 0 WHERE id = ?", gone.id); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"2147483000", "abc", "0", "-1", "01", "+2", "99999999999999999999", fmt.Sprint(gone.id)} {
		for _, req := range [][2]string{{"POST", followPath(id)}, {"POST", unfollowPath(id)}, {"GET", userPath(id)},
			{"GET", userPath(id) + "followers/"}, {"GET", userPath(id) + "following/"}} {
			wantBody(t, a.do(req[0], req[1], nil, authHeader(x.token)...), 404, `{"detail":"Not found."}`)
		}
	}
	for _, req := range [][2]string{{"POST", followPath(2)}, {"POST", unfollowPath(2)}, {"GET", userPath(2)},
		{"GET", userPath(2) + "followers/"}, {"GET", userPath(2) + "following/"}, {"GET", "/api/accounts/users/?search=u"}} {
		wantBody(t, a.do(req[0], req[1], nil), 401, `{"detail":"Authentication credentials were not provided."}`)
	}
	r := a.do("GET", followPath(2), nil, authHeader(x.token)...)
	wantBody(t, r, 405, `{"detail":"Method \"GET\" not allowed."}`)
	if r.header.Get("Allow") != "POST, OPTIONS" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	if p := a.do("GET", profilePath, nil, authHeader(x.token)...).obj(t); p["following_count"] != 0.0 || p["followers_count"] != 0.0 {
		t.Fatalf("refusals changed counts: %v", p)
	}
}

// listPage is one decoded page of a list.
type listPage struct {
	Count          int
	Next, Previous *string
	Results        []map[string]any
}

func (a *app) page(rawURL, token string) listPage {
	a.t.Helper()
	r := a.do("GET", strings.TrimPrefix(rawURL, a.url), nil, authHeader(token)...)
	wantStatus(a.t, r, 200)
	var p listPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		a.t.Fatalf("not a page: %s", r)
	}
	return p
}

func (p listPage) names() []string {
	var out []string
	for _, u := range p.Results {
		out = append(out, u["username"].(string))
	}
	return out
}

func names(ms []member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

func TestFollowListsNewestFirstAndPaged(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	ms := a.members("user", 26)
	star, fans := ms[0], ms[1:]
	// Follow in an order unlike the ids, so that newest first is not id order.
	order := slices.Clone(fans)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, f := range order {
		wantStatus(t, a.follow(f, star), 200)
		wantStatus(t, a.follow(star, f), 200)
	}
	newest := slices.Clone(order)
	slices.Reverse(newest)
	for _, list := range []string{"followers", "following"} {
		base := a.url + userPath(star.id) + list + "/"
		p := a.page(base, fans[0].token)
		if p.Count != 25 || len(p.Results) != 20 || p.Previous != nil || p.Next == nil {
			t.Fatalf("%s page 1: count %d, %d results, previous %v, next %v", list, p.Count, len(p.Results), p.Previous, p.Next)
		}
		if !slices.Equal(p.names(), names(newest[:20])) {
			t.Fatalf("%s not newest first: %v", list, p.names())
		}
		for _, q := range []struct {
			query string
			n     int
		}{{"?page_size=1", 1}, {"?page_size=100", 25}, {"?page_size=1000", 25}, {"?page_size=0", 20}, {"?page_size=x", 20}} {
			if got := len(a.page(base+q.query, star.token).Results); got != q.n {
				t.Fatalf("%s%s: %d results, want %d", list, q.query, got, q.n)
			}
		}
		// Walk forward with next, then back with previous.
		var seen []string
		var pages []listPage
		for link := base + "?page_size=7"; link != ""; {
			p := a.page(link, star.token)
			if (len(pages) == 0) != (p.Previous == nil) {
				t.Fatalf("%s page %d: previous %v", list, len(pages)+1, p.Previous)
			}
			pages = append(pages, p)
			seen = append(seen, p.names()...)
			link = ""
			if p.Next != nil {
				link = *p.Next
			}
			if len(pages) > 10 {
				t.Fatal("next links loop")
			}
		}
		if !slices.Equal(seen, names(newest)) || len(pages) != 4 {
			t.Fatalf("%s walk: %d pages, %v", list, len(pages), seen)
		}
		for i := len(pages) - 1; i > 0; i-- {
			back := a.page(*pages[i].Previous, star.token)
			if !slices.Equal(back.names(), pages[i-1].names()) {
				t.Fatalf("%s: previous of page %d is %v, want %v", list, i+1, back.names(), pages[i-1].names())
			}
			if (i == 1) != (back.Previous == nil) || back.Next == nil {
				t.Fatalf("%s: back to page %d: previous %v next %v", list, i, back.Previous, back.Next)
			}
		}
		// Everyone in these lists is followed by star.
		for _, u := range a.page(base, star.token).Results {
			if u["is_following"] != true {
				t.Fatalf("%s as star sees it: %v", list, u)
			}
			if _, ok := u["email"]; ok {
				t.Fatalf("a public user carries an email: %v", u)
			}
		}
	}
}

func TestTamperedCursor(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	ms := a.members("user", 3)
	a.follow(ms[1], ms[0])
	a.follow(ms[2], ms[0])
	next := a.page(a.url+userPath(ms[0].id)+"followers/?page_size=1", ms[0].token).Next
	if next == nil {
		t.Fatal("no next link")
	}
	u, _ := url.Parse(*next)
	for _, bad := range []string{"!!bad-cursor!!", "Zm9vYmFyYmF6", "WyJ4IiwxLDIsIiJd", ""} {
		q := u.Query()
		q.Set("cursor", bad)
		for _, path := range []string{u.Path, "/api/accounts/users/"} {
			wantBody(t, a.do("GET", path+"?"+q.Encode(), nil, authHeader(ms[0].token)...), 400, `{"detail":"Invalid cursor"}`)
		}
	}
}

// TestWalkWhileFollowsChange walks a followers list by its next links while
// other users follow and unfollow: everyone who follows throughout is seen
// exactly once.
func TestWalkWhileFollowsChange(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	star := a.members("star", 1)[0]
	steady := a.members("steady", 40)
	churn := a.members("churn", 10)
	for _, m := range steady {
		a.follow(m, star)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := churn[i%len(churn)]
			if i%3 == 2 {
				a.unfollow(m, star)
			} else {
				a.follow(m, star)
			}
		}
	}()
	seen := map[string]int{}
	pages := 0
	for link := a.url + userPath(star.id) + "followers/?page_size=3"; link != ""; pages++ {
		if pages > 100 {
			t.Fatal("next links loop")
		}
		p := a.page(link, star.token)
		for _, n := range p.names() {
			seen[n]++
		}
		link = ""
		if p.Next != nil {
			link = *p.Next
		}
	}
	close(stop)
	wg.Wait()
	for _, m := range steady {
		if seen[m.name] != 1 {
			t.Fatalf("%s seen %d times", m.name, seen[m.name])
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Fatalf("%s seen %d times", n, c)
		}
	}
}

// TestConcurrentFollowsKeepCounts races follows and unfollows, on one pair
// and across many, then checks every stored count against the edges.
func TestConcurrentFollowsKeepCounts(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	ms := a.members("user", 8)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := ms[0], ms[1]
			if i >= 40 {
				from, to = ms[rand.IntN(len(ms))], ms[rand.IntN(len(ms))]
			}
			var r *resp
			if i%2 == 0 {
				r = a.follow(from, to)
			} else {
				r = a.unfollow(from, to)
			}
			if r.status != 200 && !(from == to && r.status == 400) {
				t.Errorf("%s", r)
			}
		}()
	}
	wg.Wait()
	var bad int
	a.db.r.QueryRow(`SELECT count(*) FROM users AS u WHERE
		followers_count <> (SELECT count(*) FROM follows WHERE followee_id = u.id) OR
		following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)`).Scan(&bad)
	if bad != 0 {
		t.Fatalf("%d users have counts that disagree with their edges", bad)
	}
	// What the API shows agrees too, cached or not.
	for _, m := range ms {
		p := a.do("GET", profilePath, nil, authHeader(m.token)...).obj(t)
		var followers, following float64
		a.db.r.QueryRow("SELECT (SELECT count(*) FROM follows WHERE followee_id = ?1), (SELECT count(*) FROM follows WHERE follower_id = ?1)", m.id).Scan(&followers, &following)
		if p["followers_count"] != followers || p["following_count"] != following {
			t.Fatalf("%s: profile shows %v/%v, edges say %v/%v", m.name, p["followers_count"], p["following_count"], followers, following)
		}
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	me := a.members("viewer", 1)[0]
	for _, name := range []string{"Bobc", "boba", "BOBB", "xbob", "bo", "bobd"} {
		a.register(name)
	}
	if _, err := a.db.w.Exec("UPDATE users SET is_active = 0 WHERE username = 'bobd'"); err != nil {
		t.Fatal(err)
	}
	a.follow(me, member{id: 4}) // BOBB
	search := a.url + "/api/accounts/users/?search="
	p := a.page(search+"BOB", me.token)
	if p.Count != 3 || !slices.Equal(p.names(), []string{"boba", "BOBB", "Bobc"}) || p.Next != nil || p.Previous != nil {
		t.Fatalf("search BOB: count %d %v next %v", p.Count, p.names(), p.Next)
	}
	if p.Results[0]["is_following"] != false || p.Results[1]["is_following"] != true {
		t.Fatalf("is_following in search: %v", p.Results)
	}
	first := a.page(search+"bob&page_size=2", me.token)
	second := a.page(*first.Next, me.token)
	if !slices.Equal(append(first.names(), second.names()...), []string{"boba", "BOBB", "Bobc"}) || second.Next != nil || second.Previous == nil {
		t.Fatalf("search pages: %v %v", first.names(), second.names())
	}
	if back := a.page(*second.Previous, me.token); !slices.Equal(back.names(), first.names()) {
		t.Fatalf("search previous: %v", back.names())
	}
	if p := a.page(search+"zzz", me.token); p.Count != 0 || p.Results == nil || len(p.Results) != 0 {
		t.Fatalf("no match: %+v", p)
	}
	// Inactive users are in no list.
	if _, err := a.db.w.Exec("INSERT INTO follows VALUES (7, 1, 1)"); err != nil {
		t.Fatal(err)
	}
	if p := a.page(a.url+userPath(me.id)+"followers/", me.token); len(p.Results) != 0 {
		t.Fatalf("an inactive follower is listed: %v", p.names())
	}
}

// TestListQueryPlans fails when a list query, planned with bound
// parameters, scans a whole table or sorts in a temporary B-tree, instead
// of walking an index in order.
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	queries := map[string][]any{
		searchCountSQL:       {"bob", "bob" + maxRune},
		searchPageSQL(false): {1, "bob", "bob" + maxRune, "", 21},
		searchPageSQL(true):  {1, "bob", "bob" + maxRune, "bobz", 21},
		userByTokenSQL:       {[]byte("x")},
		updateProfileSQL:     {nil, "bio", nil, 1},
		"SELECT " + userColumnsOfU + ", " + isFollowing + " FROM users AS u WHERE u.id = ?2 AND u.is_active": {1, 2},
	}
	for _, dir := range []followDirection{followersList, followingList} {
		for _, back := range []bool{false, true} {
			queries[followPageSQL(dir, back)] = []any{1, 2, int64(1) << 62, int64(1) << 62, 21}
		}
	}
	for q, args := range queries {
		rows, err := a.db.r.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			rows.Scan(&id, &parent, &unused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "USING") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("full scan or sort in the plan of\n%s\nplan: %q", q, plan)
			}
		}
	}
}

func TestFollowCountsOnAnotherViewersProfile(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	ms := a.members("user", 4)
	pa, pb, pc, pd := ms[0], ms[1], ms[2], ms[3]
	for _, pair := range [][2]member{{pa, pb}, {pa, pc}, {pd, pa}} {
		wantStatus(t, a.follow(pair[0], pair[1]), http.StatusOK)
	}
	wantBody(t, a.do("GET", userPath(pa.id), nil, authHeader(pc.token)...), 200, publicUser(pa, "", 1, 2, false))
	wantBody(t, a.do("GET", userPath(pa.id), nil, authHeader(pd.token)...), 200, publicUser(pa, "", 1, 2, true))
}
