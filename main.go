// Command socialapi serves the social_media_api accounts API of the Django
// REST Framework original (register, login, token auth, profile, pictures)
// from one binary and one SQLite file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run runs the subcommand args names; with none, or "serve", the server.
// Asking for a command's usage (-h) is not an error.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "serve":
			return serve(ctx, args[1:], getenv, stdout, stderr)
		case "user":
			return runUser(ctx, args[1:], getenv, stdin, stdout, stderr)
		case "token":
			return runToken(ctx, args[1:], getenv, stdout, stderr)
		case "backup":
			return runBackup(ctx, args[1:], getenv, stdout, stderr)
		case "check":
			return runCheck(ctx, args[1:], getenv, stdout, stderr)
		case "import-django":
			return runImportDjango(ctx, args[1:], getenv, stdout, stderr)
		case "seed":
			return runSeed(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	return serve(ctx, args, getenv, stdout, stderr)
}

// serve parses the server's flags, opens the database and serves until ctx
// is done, then drains in-flight requests and closes the database.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\nServes the socialapi accounts API. Every flag defaults to the environment variable named beside it.\n"+
			"The import-django command brings over the data of the Django version (see import-django -h).\n\n", args[0])
		fs.PrintDefaults()
	}
	addr := fs.String("addr", envOr(getenv, "SOCIALAPI_ADDR", "127.0.0.1:8000"), "listen `address` (SOCIALAPI_ADDR)")
	dbPath := dbFlag(fs, getenv)
	maxUpload := byteSize(5 << 20)
	var tokenTTL duration
	throttleLogin, throttleIP := rate{n: 10, per: time.Minute}, rate{}
	var proxies prefixList
	var publicURL urlValue
	var origins originList
	for _, f := range []struct {
		value      flag.Value
		name, help string
	}{
		{&maxUpload, "max-upload", "largest accepted picture `size`, in bytes or with KiB/MiB"},
		{&tokenTTL, "token-ttl", "how long a token may go unused before it expires, as a Go `duration` such as 720h; 0 never"},
		{&throttleLogin, "throttle-login", "failed logins allowed per username, as a `rate` such as 10/min; 0 turns it off"},
		{&throttleIP, "throttle-ip", "registrations, and separately logins, allowed per client address, as a `rate` such as 30/min; 0 turns it off"},
		{&proxies, "trusted-proxies", "comma-separated `CIDRs` of proxies whose X-Forwarded-For is believed"},
		{&publicURL, "public-url", "`URL` that absolute links (pictures, pages) start with, instead of the request's Host"},
		{&origins, "cors-origins", "comma-separated `origins` that browsers may call the API from"},
	} {
		env := "SOCIALAPI_" + strings.ToUpper(strings.ReplaceAll(f.name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := f.value.Set(v); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		}
		fs.Var(f.value, f.name, f.help+" ("+env+")")
	}
	logJSON := fs.Bool("log-json", getenv("SOCIALAPI_LOG_JSON") != "", "log as JSON lines instead of text (SOCIALAPI_LOG_JSON)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)

	if err := os.MkdirAll(filepath.Dir(*dbPath), 0o755); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	db, err := openStore(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	h, err := newServer(log, db, config{
		mediaDir:       filepath.Join(filepath.Dir(*dbPath), "media"),
		maxUpload:      int64(maxUpload),
		hash:           defaultArgon,
		tokenTTL:       time.Duration(tokenTTL),
		throttleLogin:  throttleLogin,
		throttleIP:     throttleIP,
		trustedProxies: proxies,
		publicURL:      string(publicURL),
		corsOrigins:    origins,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(h, handler)
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// newHTTPServer bounds every phase of a connection, so that slow or idle
// clients cannot hold the server's resources.
func newHTTPServer(h http.Handler, log slog.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second, // room for a picture on a slow link
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log, slog.LevelWarn),
	}
}

// parseFlags parses a command's flags. It prints the usage only when asked
// (-h, returning flag.ErrHelp); any other mistake is one line of error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w (-h lists the flags)", fs.Name(), err)
	}
	return nil
}

// dbFlag is the -db flag every subcommand takes.
func dbFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	return fs.String("db", envOr(getenv, "SOCIALAPI_DB", filepath.Join("data", "db.sqlite3")),
		"SQLite database `file`, created if missing; pictures go in media/ beside it (SOCIALAPI_DB)")
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}

// byteSize is a flag value in bytes, written plainly or with a KiB or MiB
// suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = n, m
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > 1<<40/mult {
		return fmt.Errorf("want a positive size such as 5242880 or 5MiB, got %q", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// duration is a flag value: a non-negative Go duration.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }

func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration such as 720h or 30m, got %q", s)
	}
	*d = duration(v)
	return nil
}

// urlValue is a flag value: an absolute http or https URL with no query.
type urlValue string

func (u *urlValue) String() string { return string(*u) }

func (u *urlValue) Set(s string) error {
	p, err := url.Parse(s)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
		return fmt.Errorf("want an absolute URL such as https://api.example.org, got %q", s)
	}
	*u = urlValue(strings.TrimSuffix(s, "/"))
	return nil
}

// originList is a flag value: comma-separated origins (scheme://host[:port]).
type originList []string

func (o *originList) String() string { return strings.Join(*o, ",") }

func (o *originList) Set(s string) error {
	var list originList
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := url.Parse(item)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Path != "" || p.RawQuery != "" {
			return fmt.Errorf("want origins such as https://app.example.org, got %q", item)
		}
		list = append(list, item)
	}
	*o = list
	return nil
}
