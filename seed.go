package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// seedPassword is the password of every seeded user, so that a benchmark
// can log in as any of them.
const seedPassword = "seed-Passw0rd!"

// The followee of each seeded edge is drawn from a Zipf distribution with
// these parameters over a random order of the users. With 1,000,000 users
// and 10,000,000 edges they give the top accounts about 900,000, 640,000
// and 460,000 followers and most accounts none, as on real networks.
const (
	seedZipfS = 1.2
	seedZipfV = 1
)

const (
	// seedMaxUsers keeps user ids within the 32 bits that drawFollows packs
	// each of them into.
	seedMaxUsers = 100_000_000
	// seedDrawsPerEdge bounds the draws spent looking for distinct edges
	// when the graph asked for is too dense for the skew to fill.
	seedDrawsPerEdge = 20
	// The load runs in transactions of seedTxRows rows, each a run of
	// multi-row INSERTs binding up to SQLite's limit of 32,766 parameters:
	// a commit or a statement per row would cost more than the rows.
	seedTxRows    = 500_000
	seedMaxParams = 32_766
)

// runSeed fills a new database with synthetic users and a power-law follow
// graph, for benchmarks.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: socialapi %s -db FILE -users N -edges M [-seed S]\n\n"+
			"Fills a new database with N users and M follows, for benchmarks. A few accounts get most of\n"+
			"the followers (a power law); followers are picked uniformly. Every user can log in with the\n"+
			"password %s. The same seed gives the same users and graph.\n\n", args[0], seedPassword)
		fs.PrintDefaults()
	}
	dbPath := fs.String("db", getenv("SOCIALAPI_DB"), "SQLite database `file` to fill, created if missing; it must have no users (SOCIALAPI_DB)")
	users := fs.Int("users", 0, "`number` of users")
	edges := fs.Int("edges", 0, "`number` of follows")
	seed := fs.Uint64("seed", 1, "random `seed`")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	maxEdges := int64(*users) * int64(*users-1)
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *dbPath == "":
		return errors.New("seed: -db is required")
	case *users < 1 || *users > seedMaxUsers:
		return fmt.Errorf("seed: -users must be between 1 and %d", seedMaxUsers)
	case *edges < 0 || int64(*edges) > maxEdges:
		return fmt.Errorf("seed: -edges must be between 0 and %d for %d users", maxEdges, *users)
	}

	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%6.1fs "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}
	st, err := openStore(*dbPath)
	if err != nil {
		return err
	}
	top, err := seedStore(ctx, st, *users, *edges, rand.New(rand.NewPCG(*seed, 0)), logf)
	// Closing checkpoints the WAL into the file, so it counts in the time.
	if err := errors.Join(err, st.Close()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d users and %d follows into %s in %v\n", *users, *edges, *dbPath, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "password of every user: %s\n", seedPassword)
	fmt.Fprintf(stdout, "most followers: %s\n", top)
	return nil
}

// seedStore fills st, which must have no users, and describes its five
// most-followed users.
func seedStore(ctx context.Context, st *store, users, edges int, r *rand.Rand, logf func(string, ...any)) (string, error) {
	var n int
	if err := st.w.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	if n > 0 {
		return "", fmt.Errorf("seed: the database already has %d users; seed only fills a new one", n)
	}
	follows, draws, err := drawFollows(ctx, r, users, edges)
	if err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	logf("drew %d follows in %d draws", len(follows), draws)
	if err := loadSeed(ctx, st, r, users, follows, logf); err != nil {
		return "", fmt.Errorf("seed: %w (the database is left incomplete: delete it and seed again)", err)
	}
	return topFollowed(ctx, st, 5)
}

// drawFollows returns m distinct follow edges among users 1 to n, each as
// follower<<32 | followee, sorted, which is the follows primary key's
// order, and how many draws it took. It draws in rounds of as many edges as
// are still missing, so that it never overshoots, and merges each round's
// new edges into the sorted set.
func drawFollows(ctx context.Context, r *rand.Rand, n, m int) ([]uint64, int, error) {
	if m == 0 {
		return nil, 0, nil
	}
	perm := r.Perm(n)
	zipf := rand.NewZipf(r, seedZipfS, seedZipfV, uint64(n-1))
	edges := make([]uint64, 0, m)
	merged := make([]uint64, 0, m)
	var batch []uint64
	draws := 0
	for len(edges) < m {
		if draws > seedDrawsPerEdge*m {
			return nil, draws, fmt.Errorf("found only %d distinct follows in %d draws: ask for fewer edges or more users", len(edges), draws)
		}
		if err := ctx.Err(); err != nil {
			return nil, draws, err
		}
		batch = batch[:0]
		for range m - len(edges) {
			draws++
			follower := uint64(r.IntN(n)) + 1
			followee := uint64(perm[zipf.Uint64()]) + 1
			if follower != followee {
				batch = append(batch, follower<<32|followee)
			}
		}
		slices.Sort(batch)
		batch = slices.Compact(batch)
		merged = mergeSorted(merged[:0], edges, batch)
		edges, merged = merged, edges
	}
	return edges, draws, nil
}

// mergeSorted appends to dst the union of a and b, which are sorted and
// hold no duplicates.
func mergeSorted(dst, a, b []uint64) []uint64 {
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			dst, a = append(dst, a[0]), a[1:]
		case b[0] < a[0]:
			dst, b = append(dst, b[0]), b[1:]
		default:
			dst, a, b = append(dst, a[0]), a[1:], b[1:]
		}
	}
	return append(append(dst, a...), b...)
}

// loadSeed writes users 1 to n, with follower and following counts taken
// from the edges, then the edges.
func loadSeed(ctx context.Context, st *store, r *rand.Rand, n int, edges []uint64, logf func(string, ...any)) error {
	followers := make([]int32, n+1)
	following := make([]int32, n+1)
	for _, e := range edges {
		following[e>>32]++
		followers[e&(1<<32-1)]++
	}
	// Hashing once keeps a million users from costing a million hashes.
	hash := newHasher(defaultArgon, newWorkLimit()).encode(seedPassword)

	// Every edge joins two users inserted just before it, so checking its
	// foreign keys would only cost time: two lookups per row, which
	// measured as three quarters of the edge load. The pragma holds per
	// connection, so the load keeps one and turns them back on before
	// handing it back.
	conn, err := st.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	err = loadRows(ctx, conn, r, n, edges, followers, following, hash, logf)
	// Turn the checks back on after a failure too, and after ctx is done.
	_, errOn := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	return errors.Join(err, errOn)
}

// loadRows inserts the users and the edges over conn. It drops the follows
// indexes for the edges, since building an index once from all the rows is
// far faster than keeping it up to date row by row, and recreates them
// from their own definitions afterwards.
func loadRows(ctx context.Context, conn *sql.Conn, r *rand.Rand, n int, edges []uint64, followers, following []int32,
	hash string, logf func(string, ...any)) error {
	joined := formatTime(time.Now())
	name := make([]byte, 0, 32)
	err := insertRows(ctx, conn, "users",
		[]string{"id", "username", "username_key", "email", "password", "followers_count", "following_count", "date_joined"},
		n, func(i int, args []any) []any {
			// Random letters spread the names over every prefix; the id
			// after them makes each unique.
			id := i + 1
			name = name[:0]
			for range 4 + r.IntN(5) {
				name = append(name, byte('a'+r.IntN(26)))
			}
			username := string(strconv.AppendInt(name, int64(id), 10))
			return append(args, id, username, usernameKey(username), username+"@example.com", hash,
				followers[id], following[id], joined)
		}, logf)
	if err != nil {
		return err
	}

	indexes, err := dropIndexes(ctx, conn, "follows")
	if err != nil {
		return err
	}
	const year = int64(365 * 24 * time.Hour / time.Microsecond)
	nowMicro := time.Now().UnixMicro()
	err = insertRows(ctx, conn, "follows", []string{"follower_id", "followee_id", "created"},
		len(edges), func(i int, args []any) []any {
			e := edges[i]
			return append(args, int64(e>>32), int64(e&(1<<32-1)), nowMicro-r.Int64N(year))
		}, logf)
	if err != nil {
		return err
	}
	for name, create := range indexes {
		if _, err := conn.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("create index %s: %w", name, err)
		}
		logf("index %s", name)
	}
	return nil
}

// insertRows inserts total rows into table, in transactions of seedTxRows
// rows. row appends the values of row i, one per column, to args. It logs
// progress after each transaction.
func insertRows(ctx context.Context, conn *sql.Conn, table string, cols []string, total int,
	row func(i int, args []any) []any, logf func(string, ...any)) error {
	perStmt := seedMaxParams / len(cols)
	insert := func(rows int) string {
		tuple := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
		return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
			strings.Repeat(tuple+", ", rows-1) + tuple
	}
	full := insert(perStmt)
	args := make([]any, 0, perStmt*len(cols))
	for done := 0; done < total; {
		end := min(done+seedTxRows, total)
		err := func() error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			stmt, err := tx.PrepareContext(ctx, full)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for i := done; i < end; i += perStmt {
				rows := min(perStmt, end-i)
				args = args[:0]
				for j := i; j < i+rows; j++ {
					args = row(j, args)
				}
				if rows == perStmt {
					_, err = stmt.ExecContext(ctx, args...)
				} else {
					_, err = tx.ExecContext(ctx, insert(rows), args...)
				}
				if err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
		done = end
		logf("%s %d/%d", table, done, total)
	}
	return nil
}

// dropIndexes drops the indexes of table that the schema declares and
// returns, by name, the statements that create them again, read back from
// sqlite_schema so that their definitions live in schema.sql alone.
func dropIndexes(ctx context.Context, conn *sql.Conn, table string) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx,
		"SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", table)
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	indexes := map[string]string{}
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read indexes: %w", err)
		}
		indexes[name] = create
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	for name := range indexes {
		if _, err := conn.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	return indexes, nil
}

// topFollowed describes the k most-followed users as stored.
func topFollowed(ctx context.Context, st *store, k int) (string, error) {
	rows, err := st.r.QueryContext(ctx, "SELECT id, followers_count FROM users ORDER BY followers_count DESC, id LIMIT ?", k)
	if err != nil {
		return "", fmt.Errorf("most followed: %w", err)
	}
	defer rows.Close()
	var top []string
	for rows.Next() {
		var id, count int64
		if err := rows.Scan(&id, &count); err != nil {
			return "", fmt.Errorf("most followed: %w", err)
		}
		top = append(top, fmt.Sprintf("%d (user %d)", count, id))
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("most followed: %w", err)
	}
	return strings.Join(top, ", "), nil
}
