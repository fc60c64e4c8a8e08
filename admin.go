package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
	"golang.org/x/text/unicode/norm"
)

// The administration subcommands work on the database file directly, also
// while a server runs on it: they write through SQLite like the server
// does, and the server notices their commits within a second
// (store.watch).

// subcommand parses a subcommand's flags, which always include -db, and
// returns the positional arguments.
func subcommand(name string, args []string, getenv func(string) string, stderr io.Writer, usage string, define func(*flag.FlagSet)) (db string, rest []string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: socialapi %s\n\n", usage)
		fs.PrintDefaults()
	}
	dbPath := dbFlag(fs, getenv)
	define(fs)
	if err := parseFlags(fs, args); err != nil {
		return "", nil, err
	}
	return *dbPath, fs.Args(), nil
}

// openExisting opens a database that must already exist.
func openExisting(path string) (*store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (start the server once, or give -db)", path)
	}
	return openStore(path)
}

// runUser is `socialapi user create|passwd|deactivate|activate|list`.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const usage = "user create -username U -email E [-staff] [-superuser] < password\n" +
		"       socialapi user passwd -username U < password\n" +
		"       socialapi user deactivate|activate -username U\n" +
		"       socialapi user list [-search PREFIX]"
	if len(args) < 2 {
		return fmt.Errorf("usage: socialapi %s", usage)
	}
	action := args[1]
	var username, email, search string
	var staff, superuser bool
	dbPath, rest, err := subcommand("user "+action, args[2:], getenv, stderr, usage, func(fs *flag.FlagSet) {
		switch action {
		case "create":
			fs.StringVar(&email, "email", "", "email address")
			fs.BoolVar(&staff, "staff", false, "may use the admin (Django's is_staff)")
			fs.BoolVar(&superuser, "superuser", false, "has every permission (Django's is_superuser); implies -staff")
			fallthrough
		case "passwd", "deactivate", "activate":
			fs.StringVar(&username, "username", "", "the user's username (any case)")
		case "list":
			fs.StringVar(&search, "search", "", "only usernames that start with this, ignoring case")
		}
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q", rest[0])
	}
	if action != "list" && username == "" {
		return errors.New("-username is required")
	}
	switch action {
	case "create":
		return createUser(ctx, dbPath, username, email, staff || superuser, superuser, stdin, stdout, stderr)
	case "passwd":
		return setUserPassword(ctx, dbPath, username, stdin, stdout, stderr)
	case "deactivate", "activate":
		st, err := openExisting(dbPath)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.setActive(ctx, usernameKey(username), action == "activate"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %sd\n", username, action)
		return nil
	case "list":
		st, err := openExisting(dbPath)
		if err != nil {
			return err
		}
		defer st.Close()
		return listUsers(ctx, st, search, stdout)
	}
	return fmt.Errorf("unknown user action %q; usage: socialapi %s", action, usage)
}

// readPassword reads one line from stdin. From a terminal it prompts on
// stderr, does not echo, and asks twice.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var entries [2]string
		for i, prompt := range []string{"Password: ", "Password (again): "} {
			fmt.Fprint(stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			entries[i] = string(b)
		}
		if entries[0] != entries[1] {
			return "", errors.New("the two passwords differ")
		}
		return entries[0], nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

// validPassword applies registration's rules and says what fails in one line.
func validPassword(password, username, email string) error {
	policy, err := newPasswordPolicy()
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	policy.check(fe, "password", password, map[string]string{"username": username, "email address": email})
	if len(fe) > 0 {
		return fmt.Errorf("password refused: %s", strings.Join(fe["password"], " "))
	}
	return nil
}

func createUser(ctx context.Context, dbPath, username, email string, staff, superuser bool, stdin io.Reader, stdout, stderr io.Writer) error {
	username = norm.NFKC.String(strings.TrimSpace(username))
	email = strings.TrimSpace(email)
	fe := fieldErrors{}
	checkUsername(fe, username)
	checkEmail(fe, "email", email)
	for _, field := range []string{"username", "email"} {
		if len(fe[field]) > 0 {
			return fmt.Errorf("%s refused: %s", field, strings.Join(fe[field], " "))
		}
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if err := validPassword(password, username, email); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	st, err := openStore(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	h := newHasher(defaultArgon, newWorkLimit())
	hash, err := h.hash(ctx, password)
	if err != nil {
		return err
	}
	var id int64
	err = st.w.QueryRowContext(ctx, `INSERT INTO users (username, username_key, email, password, is_staff, is_superuser, date_joined)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		username, usernameKey(username), email, hash, staff, superuser, formatTime(time.Now())).Scan(&id)
	if isUniqueViolation(err) {
		return fmt.Errorf("username %q is taken (usernames are unique ignoring case)", username)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(stdout, "created user %s (id %d)\n", username, id)
	return nil
}

// existingUser opens an existing database and finds a user in it; the
// caller closes the store.
func existingUser(ctx context.Context, dbPath, username string) (*store, *User, error) {
	st, err := openExisting(dbPath)
	if err != nil {
		return nil, nil, err
	}
	u, _, err := st.userForLogin(ctx, usernameKey(username))
	if err != nil {
		st.Close()
		if errors.Is(err, errNotFound) {
			return nil, nil, fmt.Errorf("no user named %q", username)
		}
		return nil, nil, err
	}
	return st, u, nil
}

// setUserPassword sets a new password and revokes every token of the user.
func setUserPassword(ctx context.Context, dbPath, username string, stdin io.Reader, stdout, stderr io.Writer) error {
	st, u, err := existingUser(ctx, dbPath, username)
	if err != nil {
		return err
	}
	defer st.Close()
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if err := validPassword(password, u.Username, u.Email); err != nil {
		return err
	}
	hash, err := newHasher(defaultArgon, newWorkLimit()).hash(ctx, password)
	if err != nil {
		return err
	}
	if err := st.setPassword(ctx, u.ID, hash, digest{}, time.Time{}, ""); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %s changed; every session of theirs has ended\n", u.Username)
	return nil
}

// setActive activates or deactivates a user. The follower counts of the
// people on the other side of their edges change with it, so that every
// count agrees with the lists, which show active users only.
func (st *store) setActive(ctx context.Context, key string, active bool) error {
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	defer tx.Rollback()
	var id int64
	var was bool
	err = tx.QueryRowContext(ctx, "SELECT id, is_active FROM users WHERE username_key = ?", key).Scan(&id, &was)
	if errors.Is(err, sql.ErrNoRows) {
		return errors.New("no such user")
	}
	if err != nil || was == active {
		return err
	}
	delta := -1
	if active {
		delta = 1
	}
	for _, q := range []string{
		"UPDATE users SET is_active = ?2 WHERE id = ?1",
		"UPDATE users SET followers_count = followers_count + ?3 WHERE id IN (SELECT followee_id FROM follows WHERE follower_id = ?1)",
		"UPDATE users SET following_count = following_count + ?3 WHERE id IN (SELECT follower_id FROM follows WHERE followee_id = ?1)",
	} {
		if _, err := tx.ExecContext(ctx, q, id, active, delta); err != nil {
			return fmt.Errorf("set active: %w", err)
		}
	}
	return tx.Commit()
}

func listUsers(ctx context.Context, st *store, search string, stdout io.Writer) error {
	prefix := usernameKey(search)
	rows, err := st.r.QueryContext(ctx, `SELECT id, username, email, is_active, is_staff, date_joined, followers_count
		FROM users WHERE username_key >= ? AND username_key < ? ORDER BY username_key`, prefix, prefix+maxRune)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tACTIVE\tSTAFF\tJOINED\tFOLLOWERS")
	yesNo := map[bool]string{true: "yes", false: "no"}
	for rows.Next() {
		var id, followers int64
		var username, email, joined string
		var active, staff bool
		if err := rows.Scan(&id, &username, &email, &active, &staff, &joined, &followers); err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", id, username, email, yesNo[active], yesNo[staff], joined[:10], followers)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	return tw.Flush()
}

// runToken is `socialapi token create -username U`, which prints a new
// token for the user, as DRF's drf_create_token does.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "token create -username U"
	if len(args) < 2 || args[1] != "create" {
		return fmt.Errorf("usage: socialapi %s", usage)
	}
	var username string
	dbPath, rest, err := subcommand("token create", args[2:], getenv, stderr, usage, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "the user's username (any case)")
	})
	if err != nil {
		return err
	}
	if username == "" || len(rest) > 0 {
		return fmt.Errorf("usage: socialapi %s", usage)
	}
	st, u, err := existingUser(ctx, dbPath, username)
	if err != nil {
		return err
	}
	defer st.Close()
	key := newTokenKey()
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := insertToken(ctx, tx, u.ID, tokenDigest(key), time.Now(), "socialapi token create"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(stdout, key)
	return nil
}

// runBackup is `socialapi backup FILE`, a consistent copy of the live
// database by VACUUM INTO with the pictures copied into media/ beside it,
// and `socialapi backup -check FILE`, which checks such a copy.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "backup [-check] FILE"
	var checkOnly bool
	dbPath, rest, err := subcommand("backup", args[1:], getenv, stderr, usage, func(fs *flag.FlagSet) {
		fs.BoolVar(&checkOnly, "check", false, "check the backup FILE instead of making one")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("usage: socialapi %s", usage)
	}
	target, err := filepath.Abs(rest[0])
	if err != nil {
		return err
	}
	if checkOnly {
		return checkBackup(ctx, target, stdout)
	}
	if _, err := os.Stat(target); err == nil {
		return fmt.Errorf("%s exists; a backup never overwrites", target)
	}
	st, err := openExisting(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	// Pictures first, then the database, then any picture the copy names
	// that was uploaded in between: every file the copy refers to is there.
	from, to := filepath.Join(filepath.Dir(dbPath), "media", picturesDir), filepath.Join(filepath.Dir(target), "media", picturesDir)
	copied, err := copyPictures(from, to, nil)
	if err != nil {
		return err
	}
	if _, err := st.w.ExecContext(ctx, "VACUUM INTO ?", target); err != nil { // a read of the live file; query_only would refuse writing the copy
		return fmt.Errorf("backup: %w", err)
	}
	names, err := referencedPictures(ctx, target)
	if err != nil {
		return err
	}
	more, err := copyPictures(from, to, names)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up to %s and %d pictures to %s\n", target, copied+more, to)
	return nil
}

// copyPictures copies into dir to the pictures of dir from that it lacks:
// those named in only, or all when only is nil. Names never change
// content, so a file already there is the same.
func copyPictures(from, to string, only []string) (int, error) {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return 0, err
	}
	if only == nil {
		entries, err := os.ReadDir(from)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		for _, e := range entries {
			only = append(only, e.Name())
		}
	}
	n := 0
	for _, name := range only {
		if !pictureName.MatchString(name) {
			continue
		}
		if _, err := os.Stat(filepath.Join(to, name)); err == nil {
			continue
		}
		if err := copyFile(filepath.Join(from, name), filepath.Join(to, name)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // replaced and deleted since; the copy does not name it
			}
			return n, err
		}
		n++
	}
	return n, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(to), ".copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := errors.Join(out.Sync(), out.Close()); err != nil {
		return err
	}
	return os.Rename(out.Name(), to)
}

// referencedPictures lists the picture names a database file refers to.
func referencedPictures(ctx context.Context, path string) ([]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT profile_picture FROM users WHERE profile_picture <> ''")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// integrity runs PRAGMA integrity_check and returns its complaints.
func integrity(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	return problems, rows.Err()
}

// checkBackup checks a backup's integrity and that its pictures are there.
func checkBackup(ctx context.Context, path string, stdout io.Writer) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no backup at %s", path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	problems, err := integrity(ctx, db)
	if err != nil {
		return err
	}
	names, err := referencedPictures(ctx, path)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), "media", picturesDir, name)); err != nil {
			problems = append(problems, "missing picture "+name)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("backup %s is damaged: %s", path, strings.Join(problems, "; "))
	}
	fmt.Fprintf(stdout, "%s: ok (integrity check passed, %d pictures present)\n", path, len(names))
	return nil
}

// runCheck is `socialapi check [-fix]`: the database's integrity, and
// pictures on disk that no user refers to (orphans, removed by -fix) or
// that users refer to but are missing. A file younger than orphanAge may be
// an upload whose row is about to commit, so it is not called an orphan.
const orphanAge = 10 * time.Minute

func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var fix bool
	dbPath, rest, err := subcommand("check", args[1:], getenv, stderr, "check [-fix]", func(fs *flag.FlagSet) {
		fs.BoolVar(&fix, "fix", false, "delete orphaned pictures")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q", rest[0])
	}
	st, err := openExisting(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	problems, err := integrity(ctx, st.r)
	if err != nil {
		return err
	}
	names, err := referencedPictures(ctx, dbPath)
	if err != nil {
		return err
	}
	dir := filepath.Join(filepath.Dir(dbPath), "media", picturesDir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var orphans, missing []string
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && time.Since(info.ModTime()) > orphanAge && !slices.Contains(names, e.Name()) {
			orphans = append(orphans, e.Name())
		}
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(stdout, "database: ok")
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, "database:", p)
	}
	fmt.Fprintf(stdout, "pictures: %d referenced, %d orphaned, %d missing\n", len(names), len(orphans), len(missing))
	for _, name := range missing {
		fmt.Fprintln(stdout, "missing:", name)
	}
	for _, name := range orphans {
		if fix {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "removed orphan:", name)
		} else {
			fmt.Fprintln(stdout, "orphan:", name)
		}
	}
	if len(problems) > 0 {
		return errors.New("the database failed its integrity check")
	}
	return nil
}
