#!/usr/bin/python3
"""Rebuilds testdata/django/ with the Django reference app.

Writes db.sqlite3 and media/ as the reference's migrations and models make
them, and expected.json: what django_test.go checks the import against
(passwords, token keys, and the followers and following of every user, read
through the ORM, newest first). Run it with Debian's python3 and its
python3-django, python3-djangorestframework, python3-pil, python3-argon2
and python3-bcrypt packages:

    /usr/bin/python3 testdata/django/make_fixture.py

SMAPI_REFERENCE overrides where the reference app is looked for
(../shared/reference/django beside the repository).
"""
import base64
import datetime
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.environ.get(
    "SMAPI_REFERENCE",
    os.path.join(HERE, "..", "..", "..", "shared", "reference", "django"),
)

work = tempfile.mkdtemp(prefix="django-fixture-")
os.environ["SMAPI_DB_PATH"] = os.path.join(work, "db.sqlite3")
os.environ["SMAPI_MEDIA_ROOT"] = os.path.join(work, "media")
os.environ["DJANGO_SETTINGS_MODULE"] = "social_media_api.settings"
sys.dont_write_bytecode = True
sys.path.insert(0, REFERENCE)

import argon2  # noqa: E402
import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import (  # noqa: E402
    Argon2PasswordHasher,
    BCryptSHA256PasswordHasher,
    MD5PasswordHasher,
    PBKDF2PasswordHasher,
)
from django.core.files.base import ContentFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from PIL import Image  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from accounts.models import User  # noqa: E402

call_command("migrate", verbosity=0)

UTC = datetime.timezone.utc
JOINED = datetime.datetime(2024, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


def picture(fmt, colour):
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buf, fmt)
    return buf.getvalue()


def pbkdf2_at(password, iterations):
    """Django's pbkdf2_sha256 format, computed with hashlib alone."""
    salt = PBKDF2PasswordHasher().salt()
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    encoded = "pbkdf2_sha256$%d$%s$%s" % (iterations, salt, base64.b64encode(digest).decode())
    assert encoded == PBKDF2PasswordHasher().encode(password, salt, iterations)
    return encoded


def argon2i_legacy(password):
    """An argon2i hash in Django's format, as Django 1.10 made them."""
    salt = PBKDF2PasswordHasher().salt()
    data = argon2.low_level.hash_secret(
        password.encode(), salt.encode(), time_cost=2, memory_cost=512,
        parallelism=2, hash_len=16, type=argon2.low_level.Type.I,
    )
    return "argon2" + data.decode("ascii")


def with_hasher(hasher):
    def encode(password):
        return hasher.encode(password, hasher.salt())
    return encode


# name, password, how it is hashed (None: Django's default, set_password),
# active, picture: (file name, bytes) or a raw column value.
SPECS = [
    ("alice", "alice-Pa55word!", None, True, ("alice.png", picture("PNG", (200, 30, 30)))),
    ("bob", "bob-Pa55word!", lambda pw: pbkdf2_at(pw, 1_200_000), True, ("bob.jpg", picture("JPEG", (30, 200, 30)))),
    ("carol", "carol-Pa55word!", with_hasher(Argon2PasswordHasher()), True, ("carol.gif", picture("GIF", (30, 30, 200)))),
    ("dave", "dave-Pa55word!", with_hasher(BCryptSHA256PasswordHasher()), True, ("broken.png", b"this is not a picture\n")),
    ("erin", "erin-Pa55word!", with_hasher(MD5PasswordHasher()), True, ("gone.png", picture("PNG", (1, 2, 3)))),
    ("frank", "frank-Pa55word!", "unusable", True, None),
    ("grace", "grace-Pa55word!", None, False, None),
    ("Heidi", "Heidi-Pa55word!", None, True, None),
    ("heidi", "heidi-Pa55word!", None, True, None),
    ("ivan", "ivan-Pa55word!", argon2i_legacy, True, None),
    ("judy", "judy-Pa55word!", None, True, "../db.sqlite3"),
]

HASHERS = {h.algorithm: h for h in (
    Argon2PasswordHasher(), BCryptSHA256PasswordHasher(), MD5PasswordHasher(), PBKDF2PasswordHasher(),
)}
users = {}
expected = {"users": [], "follows": {}}
for i, (name, password, how, active, pic) in enumerate(SPECS):
    u = User(
        username=name, email=name.lower() + "@example.com", bio="I am " + name + ".",
        is_active=active, date_joined=JOINED + datetime.timedelta(days=i, microseconds=i),
    )
    if how is None:
        u.set_password(password)
    elif how == "unusable":
        u.set_unusable_password()
    else:
        u.password = how(password)
    if name == "alice":
        u.is_staff = u.is_superuser = True
        u.first_name, u.last_name = "Alice", "Liddell"
        u.last_login = datetime.datetime(2026, 11, 30, 1, 5, 10, 123456, tzinfo=UTC)
    if name == "bob":
        u.date_joined = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    u.save()
    if isinstance(pic, tuple):
        u.profile_picture.save(pic[0], ContentFile(pic[1]))
    elif pic:
        User.objects.filter(pk=u.pk).update(profile_picture=pic)
    u.refresh_from_db()
    # The hasher's own verify: User.check_password would upgrade the hash.
    algorithm = u.password.split("$")[0]
    if how != "unusable":
        assert HASHERS[algorithm].verify(password, u.password), name
    users[name] = u
    expected["users"].append({
        "id": u.pk, "username": name, "password": password,
        "hash": "unusable" if algorithm.startswith("!") else algorithm,
        "active": active, "picture": u.profile_picture.name or None,
    })

# erin's picture is in the database but not on disk.
os.remove(users["erin"].profile_picture.path)

# follower follows followee: followee.followers gains follower. The order
# is the through table's row order, which the import keeps.
FOLLOWS = [
    ("bob", "alice"), ("carol", "alice"), ("dave", "alice"), ("alice", "bob"),
    ("carol", "bob"), ("heidi", "alice"), ("Heidi", "carol"), ("grace", "alice"),
    ("ivan", "alice"), ("alice", "ivan"), ("erin", "erin"), ("heidi", "bob"),
]
for follower, followee in FOLLOWS:
    users[followee].followers.add(users[follower])

Through = User.followers.through
for name, u in users.items():
    followers = [r.to_user.username for r in Through.objects.filter(from_user=u).order_by("-id")]
    following = [r.from_user.username for r in Through.objects.filter(to_user=u).order_by("-id")]
    # The ORM's own view of the relation, which the lists above must match.
    assert set(followers) == set(u.followers.values_list("username", flat=True)), name
    assert set(following) == set(u.following.values_list("username", flat=True)), name
    expected["follows"][name] = {"followers": followers, "following": following}

for entry in expected["users"]:
    if entry["username"] in ("alice", "bob", "carol", "erin", "frank", "grace", "heidi", "ivan"):
        entry["token"] = Token.objects.create(user=users[entry["username"]]).key

for target in ("db.sqlite3", "media"):
    path = os.path.join(HERE, target)
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
shutil.copy(os.path.join(work, "db.sqlite3"), os.path.join(HERE, "db.sqlite3"))
shutil.copytree(os.path.join(work, "media"), os.path.join(HERE, "media"))
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
shutil.rmtree(work)
print("wrote", HERE)
