package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// config is what the server needs to know beyond its store.
type config struct {
	mediaDir       string // profile pictures live in mediaDir/profile_pictures
	maxUpload      int64  // largest accepted picture, in bytes
	hash           argonParams
	tokenTTL       time.Duration // how long a token may go unused; 0 is for ever
	throttleLogin  rate          // failed logins per username
	throttleIP     rate          // registrations and logins per client address
	trustedProxies []netip.Prefix
	publicURL      string   // scheme://host[/prefix] for absolute URLs; "" is the request's Host
	corsOrigins    []string // origins allowed to call the API from a browser
	now            func() time.Time
}

// server holds what every handler shares.
type server struct {
	db             *store
	log            *slog.Logger
	mediaDir       string
	maxUpload      int64
	passwords      *passwordPolicy
	hasher         *hasher
	work           chan struct{} // bounds CPU- and memory-heavy work (hashing, images) to GOMAXPROCS at once
	tokenTTL       time.Duration
	loginFailures  *limiter
	ipLimit        *limiter
	trustedProxies []netip.Prefix
	publicURL      string
	corsOrigins    []string
	now            func() time.Time
	web            *webAssets
	csp            string // the Content-Security-Policy of the browser app
}

// newServer returns the whole HTTP API as one handler.
func newServer(log *slog.Logger, db *store, cfg config) (http.Handler, error) {
	policy, err := newPasswordPolicy()
	if err != nil {
		return nil, err
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	web, err := loadWebAssets()
	if err != nil {
		return nil, err
	}
	work := newWorkLimit()
	s := &server{
		db:             db,
		log:            log,
		mediaDir:       cfg.mediaDir,
		maxUpload:      cfg.maxUpload,
		passwords:      policy,
		hasher:         newHasher(cfg.hash, work),
		work:           work,
		tokenTTL:       cfg.tokenTTL,
		loginFailures:  newLimiter(cfg.throttleLogin),
		ipLimit:        newLimiter(cfg.throttleIP),
		trustedProxies: cfg.trustedProxies,
		publicURL:      strings.TrimSuffix(cfg.publicURL, "/"),
		corsOrigins:    cfg.corsOrigins,
		now:            cfg.now,
		web:            web,
		csp:            pageCSP(cfg.publicURL),
	}
	if err := s.prepareMedia(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	addRoutes(newRouter(mux, s), s)
	return s.recoverPanics(s.logRequests(s.headers(s.cors(s.appendSlash(mux))))), nil
}

// addRoutes is the list of every route the service answers.
func addRoutes(rt *router, s *server) {
	rt.handle("POST", "/api/accounts/register/", publicRoute, http.HandlerFunc(s.handleRegister))
	rt.handle("POST", "/api/accounts/login/", publicRoute, http.HandlerFunc(s.handleLogin))
	rt.handle("GET", "/api/accounts/profile/", authRoute, s.requireAuth(s.handleProfileGet))
	rt.handle("PUT", "/api/accounts/profile/", authRoute, s.requireAuth(s.handleProfileUpdate))
	rt.handle("PATCH", "/api/accounts/profile/", authRoute, s.requireAuth(s.handleProfileUpdate))
	rt.handle("POST", "/api/accounts/follow/{id}/", authRoute, s.requireAuth(s.handleFollow))
	rt.handle("POST", "/api/accounts/unfollow/{id}/", authRoute, s.requireAuth(s.handleUnfollow))
	rt.handle("GET", "/api/accounts/users/", authRoute, s.requireAuth(s.handleUserSearch))
	rt.handle("GET", "/api/accounts/users/{id}/", authRoute, s.requireAuth(s.handlePublicUser))
	rt.handle("GET", "/api/accounts/users/{id}/followers/", authRoute, s.requireAuth(s.handleFollowers))
	rt.handle("GET", "/api/accounts/users/{id}/following/", authRoute, s.requireAuth(s.handleFollowing))
	rt.handle("POST", "/api/accounts/logout/", authRoute, s.requireAuth(s.handleLogout))
	rt.handle("POST", "/api/accounts/logout-all/", authRoute, s.requireAuth(s.handleLogoutAll))
	rt.handle("GET", "/api/accounts/tokens/", authRoute, s.requireAuth(s.handleTokens))
	rt.handle("DELETE", "/api/accounts/tokens/{id}/", authRoute, s.requireAuth(s.handleTokenDelete))
	rt.handle("POST", "/api/accounts/password/", authRoute, s.requireAuth(s.handlePasswordChange))
	rt.finish()
	rt.plain("GET", "/media/profile_pictures/{name}", s.handleMedia)
	rt.plain("GET", "/healthz", s.handleHealth)
	rt.plain("GET", "/api/schema/", s.handleSchema)
	rt.plain("GET", "/", s.handlePage)
	rt.plain("GET", "/static/{file}", s.handleStatic)
	rt.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeDetail(w, http.StatusNotFound, "Not found.")
	})
}

// Whether a route answers anonymous callers, as DRF's AllowAny and
// IsAuthenticated permission classes decide.
const (
	publicRoute = false
	authRoute   = true
)

// router registers API routes on a ServeMux and gives every API path what
// DRF gives it: an Allow header on each reply, OPTIONS answered without
// authentication, and for other methods a JSON 405 that comes after the
// authentication check, as in DRF.
type router struct {
	mux     *http.ServeMux
	s       *server
	methods map[string][]string // path → methods, in registration order
	auth    map[string]bool     // path → needs authentication
	allow   map[string][]string // path → Allow header value, set by finish
	paths   []string            // API paths, in registration order
	plains  []string            // "METHOD /path" of the routes outside the API
}

func newRouter(mux *http.ServeMux, s *server) *router {
	return &router{mux: mux, s: s, methods: map[string][]string{}, auth: map[string]bool{}, allow: map[string][]string{}}
}

func (rt *router) handle(method, path string, needsAuth bool, h http.Handler) {
	if _, ok := rt.methods[path]; !ok {
		rt.paths = append(rt.paths, path)
	}
	rt.methods[path] = append(rt.methods[path], method)
	rt.auth[path] = rt.auth[path] || needsAuth
	rt.mux.Handle(method+" "+path+"{$}", rt.withAllow(path, h))
}

// plain registers a route outside the API, which answers only its method.
// A path that ends in a slash matches only itself, as API paths do, not
// everything under it.
func (rt *router) plain(method, path string, h http.HandlerFunc) {
	rt.plains = append(rt.plains, method+" "+path)
	pattern := method + " " + path
	if strings.HasSuffix(path, "/") {
		pattern += "{$}"
	}
	rt.mux.HandleFunc(pattern, h)
}

// finish registers, for every path, the OPTIONS answer and the 405 for the
// methods it lacks. It runs once all routes are known.
func (rt *router) finish() {
	for _, path := range rt.paths {
		rt.allow[path] = []string{allowHeader(rt.methods[path])}
		rt.mux.Handle("OPTIONS "+path+"{$}", rt.withAllow(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{
				"name":    path,
				"renders": []string{"application/json"},
				"parses":  []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data"},
			})
		})))
		needsAuth := rt.auth[path]
		rt.mux.Handle(path+"{$}", rt.withAllow(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			me, ok := rt.s.authenticate(w, r)
			if !ok {
				return
			}
			if me == nil && needsAuth {
				writeUnauthorized(w, "Authentication credentials were not provided.")
				return
			}
			writeDetail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
		})))
	}
}

// withAllow sets the path's Allow header before h runs, and refuses a
// client that accepts no JSON, as DRF's content negotiation does.
func (rt *router) withAllow(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Allow"] = rt.allow[path]
		if !acceptsJSON(r.Header.Get("Accept")) {
			writeDetail(w, http.StatusNotAcceptable, "Could not satisfy the request Accept header.")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// acceptsJSON reports whether an Accept header admits application/json.
func acceptsJSON(accept string) bool {
	if accept == "" {
		return true
	}
	for _, item := range strings.Split(accept, ",") {
		mediaType, _, _ := strings.Cut(item, ";")
		switch strings.ToLower(strings.TrimSpace(mediaType)) {
		case "*/*", "application/*", "application/json":
			return true
		}
	}
	return false
}

// allowHeader lists methods in the order DRF's views do, with HEAD
// wherever GET is, and OPTIONS always.
func allowHeader(methods []string) string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
		if slices.Contains(methods, m) || m == "HEAD" && slices.Contains(methods, "GET") || m == "OPTIONS" {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// appendSlash answers a path that lacks only its trailing slash with a 301
// to the slashed one, as Django's APPEND_SLASH does.
func (s *server) appendSlash(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/api/") && !strings.HasSuffix(p, "/") {
			probe := r.Clone(r.Context())
			probe.URL.Path = p + "/"
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				target := (&url.URL{Path: p + "/", RawQuery: r.URL.RawQuery}).String()
				w.Header().Set("Location", target)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusMovedPermanently)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// headers sets the response headers every reply carries (Django's defaults).
func (s *server) headers(next http.Handler) http.Handler {
	// Shared by every response; a later Add copies rather than appends.
	nosniff, deny, sameOrigin := []string{"nosniff"}, []string{"DENY"}, []string{"same-origin"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["X-Frame-Options"] = deny
		h["Referrer-Policy"] = sameOrigin
		next.ServeHTTP(w, r)
	})
}

// handleHealth answers 200 once the database answers a trivial read.
func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	var n int
	if err := s.db.r.QueryRowContext(r.Context(), "SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1)").Scan(&n); err != nil {
		s.log.Error("health check", "err", err)
		writeDetail(w, http.StatusServiceUnavailable, "The database cannot be read.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// cors answers browsers calling from the allowed origins: the origin is
// echoed back, preflight requests learn that Authorization may be sent,
// and every response varies by Origin. Other origins get no CORS headers.
func (s *server) cors(next http.Handler) http.Handler {
	if len(s.corsOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(s.corsOrigins, origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Retry-After")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// baseURL is where absolute URLs start: the configured public URL, or else
// the scheme and Host of the request.
func (s *server) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// logWriter records what the request log reports about a response. The
// auth check fills in userID.
type logWriter struct {
	http.ResponseWriter
	status int
	userID int64
}

func (lw *logWriter) WriteHeader(status int) {
	if lw.status == 0 {
		lw.status = status
	}
	lw.ResponseWriter.WriteHeader(status)
}

func (lw *logWriter) Write(b []byte) (int, error) {
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	return lw.ResponseWriter.Write(b)
}

func (lw *logWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// setLogUser tells the request log which user made the request.
func setLogUser(w http.ResponseWriter, id int64) {
	if lw, ok := w.(*logWriter); ok {
		lw.userID = id
	}
}

// logRequests writes one line per request. It logs the path without its
// query and never a header, so no token or password reaches the log.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &logWriter{ResponseWriter: w}
		next.ServeHTTP(lw, r)
		if lw.status == 0 {
			lw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" {
			level = slog.LevelDebug // probes every few seconds would drown the log
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", lw.status),
			slog.Duration("dur", time.Since(start)),
			slog.Int64("user_id", lw.userID),
		)
	})
}

// recoverPanics turns a panic in a handler into a logged 500.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeDetail(w, http.StatusInternalServerError, "A server error occurred.")
		}()
		next.ServeHTTP(w, r)
	})
}

// serverError logs an unexpected failure and answers DRF's generic 500.
func (s *server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("server error", "method", r.Method, "path", r.URL.Path, "err", err)
	writeDetail(w, http.StatusInternalServerError, "A server error occurred.")
}

// writeJSON writes v as compact JSON without HTML escaping, as DRF does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"detail":"A server error occurred."}` + "\n")
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

// writeDetail writes DRF's {"detail": "..."} error shape.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// writeUnauthorized is DRF's 401: the detail and the scheme to use.
func writeUnauthorized(w http.ResponseWriter, detail string) {
	w.Header()["WWW-Authenticate"] = []string{"Token"} // DRF's spelling on the wire
	writeDetail(w, http.StatusUnauthorized, detail)
}

// fieldErrors is DRF's validation error shape: {"field": ["message", ...]}.
type fieldErrors map[string][]string

func (fe fieldErrors) add(field, msg string) { fe[field] = append(fe[field], msg) }

// fieldOrder is the order of DRF's serializer fields, in which it lists
// their errors; other keys follow in alphabetical order.
var fieldOrder = []string{"username", "email", "password", "password2", "bio", "profile_picture",
	"old_password", "new_password", "new_password2", "non_field_errors"}

// MarshalJSON writes the fields in DRF's order, so replies match the
// original byte for byte.
func (fe fieldErrors) MarshalJSON() ([]byte, error) {
	keys := slices.Sorted(maps.Keys(fe))
	slices.SortStableFunc(keys, func(a, b string) int {
		return cmp.Compare(fieldRank(a), fieldRank(b))
	})
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(fe[k])
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func fieldRank(k string) int {
	if i := slices.Index(fieldOrder, k); i >= 0 {
		return i
	}
	return len(fieldOrder)
}

// check adds msg to field when bad is true.
func (fe fieldErrors) check(field string, bad bool, msg string) {
	if bad {
		fe.add(field, msg)
	}
}

// Messages shared by several fields, in DRF's words.
const (
	msgRequired = "This field is required."
	msgNull     = "This field may not be null."
	msgBlank    = "This field may not be blank."
	msgNotStr   = "Not a valid string."
	msgNULChar  = "Null characters are not allowed."
)

func msgMaxLength(n int) string {
	return fmt.Sprintf("Ensure this field has no more than %d characters.", n)
}

// maxJSONBody bounds bodies that carry no file.
const maxJSONBody = 1 << 20

// input is a request body as DRF's parsers see it: a JSON object, or form
// values with files (url-encoded or multipart).
type input struct {
	json  map[string]json.RawMessage
	form  url.Values
	files map[string][]*multipart.FileHeader
}

// readInput parses the body by its Content-Type. On failure it has written
// the error reply (400, 413 or 415) and returns false.
func (s *server) readInput(w http.ResponseWriter, r *http.Request) (*input, bool) {
	in := &input{}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return in, true
	}
	ct := r.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		writeDetail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))
		return nil, false
	}
	var read func(http.ResponseWriter, *http.Request, *input) bool
	limit := int64(maxJSONBody)
	switch mediaType {
	case "application/json":
		read = readJSON
	case "application/x-www-form-urlencoded":
		read = readForm
	case "multipart/form-data":
		read, limit = readMultipart, s.maxUpload+maxJSONBody
	default:
		writeDetail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))
		return nil, false
	}
	// A body declared over the limit is refused before any of it is read;
	// one that turns out longer is cut off at the limit.
	if r.ContentLength > limit {
		writeDetail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is too large. The limit is %d bytes.", limit))
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return in, read(w, r, in)
}

func readForm(w http.ResponseWriter, r *http.Request, in *input) bool {
	if err := r.ParseForm(); err != nil {
		writeBodyError(w, err, "Form parse error - ")
		return false
	}
	in.form = r.PostForm
	return true
}

func readJSON(w http.ResponseWriter, r *http.Request, in *input) bool {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		writeBodyError(w, err, "JSON parse error - ")
		return false
	}
	body := bytes.TrimSpace(buf.Bytes())
	if !utf8.Valid(body) {
		writeDetail(w, http.StatusBadRequest, "JSON parse error - body is not valid UTF-8")
		return false
	}
	if len(body) == 0 {
		writeDetail(w, http.StatusBadRequest, "JSON parse error - unexpected end of JSON input")
		return false
	}
	var probe json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		writeDetail(w, http.StatusBadRequest, "JSON parse error - "+err.Error())
		return false
	}
	if string(body) == "null" {
		writeJSON(w, http.StatusBadRequest, fieldErrors{"non_field_errors": {"No data provided"}})
		return false
	}
	if body[0] != '{' {
		writeJSON(w, http.StatusBadRequest, fieldErrors{"non_field_errors": {
			"Invalid data. Expected a dictionary, but got " + pythonType(body) + "."}})
		return false
	}
	if err := json.Unmarshal(body, &in.json); err != nil {
		writeDetail(w, http.StatusBadRequest, "JSON parse error - "+err.Error())
		return false
	}
	return true
}

// pythonType names a JSON value's type as DRF's message does.
func pythonType(v []byte) string {
	switch v[0] {
	case '[':
		return "list"
	case '"':
		return "str"
	case 't', 'f':
		return "bool"
	case 'n':
		return "NoneType"
	}
	if bytes.ContainsAny(v, ".eE") {
		return "float"
	}
	return "int"
}

// writeBodyError answers a body that could not be read: 413 when it was
// over the limit, else 400 with the parser's complaint.
func writeBodyError(w http.ResponseWriter, err error, prefix string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeDetail(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("Request body is too large. The limit is %d bytes.", tooBig.Limit))
		return
	}
	writeDetail(w, http.StatusBadRequest, prefix+err.Error())
}

// fieldOpt says how a text field is read, as DRF's CharField arguments do.
type fieldOpt int

const (
	required   fieldOpt = 1 << iota // absent is an error
	allowBlank                      // "" is a value, not an error
	trim                            // surrounding white space is dropped
)

// text reads a text field. ok is false when the field is absent, null or
// not a string; fe then says why if that is an error.
func (in *input) text(fe fieldErrors, name string, opts fieldOpt) (string, bool) {
	var v string
	switch {
	case in.json != nil:
		raw, present := in.json[name]
		if !present {
			fe.check(name, opts&required != 0, msgRequired)
			return "", false
		}
		var ok bool
		v, ok = jsonText(raw)
		if !ok {
			if string(raw) == "null" {
				fe.add(name, msgNull)
			} else {
				fe.add(name, msgNotStr)
			}
			return "", false
		}
	default:
		vals, present := in.form[name]
		if !present || len(vals) == 0 {
			fe.check(name, opts&required != 0, msgRequired)
			return "", false
		}
		v = vals[len(vals)-1] // Django's QueryDict gives the last value
	}
	if opts&trim != 0 {
		v = strings.TrimSpace(v)
	}
	if v == "" && opts&allowBlank == 0 {
		fe.add(name, msgBlank)
		return "", false
	}
	return v, true
}

// jsonText reads a JSON string, or a number as its literal text (DRF's
// CharField accepts both); other types are not text.
func jsonText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), true
	}
	return "", false
}

// has reports whether the body names the field at all.
func (in *input) has(name string) bool {
	if in.json != nil {
		_, ok := in.json[name]
		return ok
	}
	_, inForm := in.form[name]
	_, inFiles := in.files[name]
	return inForm || inFiles
}
