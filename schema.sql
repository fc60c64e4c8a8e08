-- The socialapi schema. Applied once to a new database as migration 1;
-- later changes are further numbered migrations (see migrations in store.go).

-- users mirrors Django's AbstractUser plus the social_media_api fields, so
-- that nothing of a user imported from the Django original is lost.
-- username keeps the spelling given at registration; username_key is its
-- NFKC case-folded form and is what makes usernames unique ignoring case.
-- profile_picture is a file name under media/profile_pictures/, '' for none.
-- followers_count and following_count are kept by the follow and unfollow
-- transactions so that reading them never counts rows.
CREATE TABLE users (
	id              INTEGER PRIMARY KEY,
	username        TEXT    NOT NULL,
	username_key    TEXT    NOT NULL UNIQUE,
	email           TEXT    NOT NULL,
	password        TEXT    NOT NULL,
	bio             TEXT    NOT NULL DEFAULT '',
	profile_picture TEXT    NOT NULL DEFAULT '',
	followers_count INTEGER NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
	following_count INTEGER NOT NULL DEFAULT 0 CHECK (following_count >= 0),
	is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
	is_staff        INTEGER NOT NULL DEFAULT 0 CHECK (is_staff IN (0, 1)),
	is_superuser    INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
	first_name      TEXT    NOT NULL DEFAULT '',
	last_name       TEXT    NOT NULL DEFAULT '',
	date_joined     TEXT    NOT NULL,
	last_login      TEXT
) STRICT;

-- Search pages through active usernames in order, and counts its matches
-- from this index alone.
CREATE INDEX users_active_username ON users (username_key) WHERE is_active;

-- follows is the followers many-to-many: follower_id follows followee_id
-- since created (Unix microseconds). The primary key answers "does A follow
-- B"; the two indexes list a user's followers and followings newest first.
CREATE TABLE follows (
	follower_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	followee_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created     INTEGER NOT NULL,
	PRIMARY KEY (follower_id, followee_id),
	CHECK (follower_id <> followee_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX follows_followee ON follows (followee_id, created, follower_id);
CREATE INDEX follows_follower ON follows (follower_id, created, followee_id);

-- tokens holds only the SHA-256 digest of each key; the key itself is shown
-- once, when it is issued. last_used is refreshed at most about once a
-- minute, so that reads do not become writes; with a token lifetime set, a
-- token unused for that long is refused and deleted. user_agent is what the
-- client that obtained it called itself, for the sessions list.
CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY,
	digest     BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created    TEXT    NOT NULL,
	last_used  TEXT    NOT NULL,
	user_agent TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX tokens_user ON tokens (user_id);
