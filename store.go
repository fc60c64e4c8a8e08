package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed schema.sql
var schemaSQL string

// migrations are applied in order; PRAGMA user_version counts how many a
// database has had, so a second start on the same file changes nothing.
// Append new ones; never edit one that has shipped.
var migrations = []string{schemaSQL}

var (
	errNotFound      = errors.New("not found")
	errUsernameTaken = errors.New("username taken")
)

// store is the SQLite database: one writer connection, so that writers queue
// in Go instead of meeting "database is locked", and a read pool that WAL
// lets run beside it. cache answers token lookups without touching SQLite.
type store struct {
	w, r  *sql.DB
	wmu   sync.Mutex // held from a write that changes a cached user until the cache has it
	cache *authCache
	stop  context.CancelFunc
	done  chan struct{}

	// Statements on the hot paths, prepared once: SQLite would otherwise
	// parse them on every request.
	userByTokenStmt *sql.Stmt
	updateStmt      *sql.Stmt
}

// openStore opens (creating if needed) the database at path, applies the
// migrations it lacks and starts watching for commits made by other
// processes, such as the admin commands.
func openStore(path string) (*store, error) {
	// busy_timeout comes first so that every later pragma waits instead of
	// failing while another process holds the lock.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	w, err := sql.Open("sqlite", dsn+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	r.SetMaxOpenConns(max(4, 2*runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, 2*runtime.GOMAXPROCS(0)))
	st := &store{w: w, r: r, cache: newAuthCache(), done: make(chan struct{})}
	if st.userByTokenStmt, err = r.Prepare(userByTokenSQL); err == nil {
		st.updateStmt, err = w.Prepare(updateProfileSQL)
	}
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	st.stop = stop
	go st.watch(ctx, 250*time.Millisecond)
	return st, nil
}

// Close stops the watcher and closes both pools; the last close checkpoints
// the WAL into the main file.
func (st *store) Close() error {
	st.stop()
	<-st.done
	return errors.Join(st.r.Close(), st.w.Close())
}

// migrate applies, in one transaction, the migrations the database has not
// had yet and records them in user_version. The writer's transactions begin
// IMMEDIATE, so two processes starting at once cannot both apply one.
func migrate(db *sql.DB) error {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d)", version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// watch clears the auth cache whenever another process commits to the
// database. PRAGMA data_version, read on the writer connection, changes only
// for commits made by other connections, and this process writes through
// that one connection alone.
func (st *store) watch(ctx context.Context, every time.Duration) {
	defer close(st.done)
	var last int64 = -1
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var v int64
		if err := st.w.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err == nil {
			if last >= 0 && v != last {
				st.cache.clear()
			}
			last = v
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
