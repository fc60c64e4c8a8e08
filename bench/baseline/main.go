// Command baseline is the yardstick for the load benchmark: the least a
// server can do to answer GET and PATCH /api/accounts/profile/ with the same
// bytes as socialapi. With -mode mem it serves the user from a map; with
// -mode sqlite it reads (GET) or updates (PATCH) SQLite once per request,
// with socialapi's pragmas. It reads the user and token digests from a
// socialapi database.
package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"

	_ "modernc.org/sqlite"
)

type user struct {
	ID             int64   `json:"id"`
	Username       string  `json:"username"`
	Email          string  `json:"email"`
	Bio            string  `json:"bio"`
	ProfilePicture *string `json:"profile_picture"`
	FollowersCount int64   `json:"followers_count"`
	FollowingCount int64   `json:"following_count"`
}

const userQuery = "SELECT id, username, email, bio, followers_count, following_count FROM users WHERE id = (SELECT user_id FROM tokens WHERE digest = ?)"

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "listen address")
	dbPath := flag.String("db", "", "a socialapi database")
	mode := flag.String("mode", "mem", "mem or sqlite")
	flag.Parse()
	dsn := "file:" + *dbPath + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	rdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		log.Fatal(err)
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)

	users := map[[32]byte]user{}
	rows, err := db.Query("SELECT t.digest, u.id, u.username, u.email, u.bio, u.followers_count, u.following_count FROM tokens t JOIN users u ON u.id = t.user_id")
	if err != nil {
		log.Fatal(err)
	}
	for rows.Next() {
		var d []byte
		var u user
		if err := rows.Scan(&d, &u.ID, &u.Username, &u.Email, &u.Bio, &u.FollowersCount, &u.FollowingCount); err != nil {
			log.Fatal(err)
		}
		users[[32]byte(d)] = u
	}
	rows.Close()

	digest := func(r *http.Request) [32]byte {
		return sha256.Sum256([]byte(strings.TrimPrefix(r.Header.Get("Authorization"), "Token ")))
	}
	write := func(w http.ResponseWriter, u user) {
		b, _ := json.Marshal(u)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/accounts/profile/", func(w http.ResponseWriter, r *http.Request) {
		d := digest(r)
		if *mode == "mem" {
			write(w, users[d])
			return
		}
		var u user
		if err := rdb.QueryRow(userQuery, d[:]).Scan(&u.ID, &u.Username, &u.Email, &u.Bio, &u.FollowersCount, &u.FollowingCount); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		write(w, u)
	})
	mux.HandleFunc("PATCH /api/accounts/profile/", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Bio string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		d := digest(r)
		u := users[d]
		if _, err := db.Exec("UPDATE users SET bio = ? WHERE id = ?", in.Bio, u.ID); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		u.Bio = in.Bio
		write(w, u)
	})
	fmt.Printf("listening on http://%s\n", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
