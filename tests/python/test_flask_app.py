"""The Flask seed's application (flask_app/, the seed's code but for
SQLALCHEMY_DATABASE_URI) on a real daemon, through Flask's test client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FLASK_DIR = HERE / "flask_app"


def _forget_app_modules():
    for name in list(sys.modules):
        if name in ("app", "config") or name.startswith("app."):
            del sys.modules[name]


@pytest.fixture
def seed(daemon, monkeypatch):
    """The seed app's modules, imported afresh for this test's daemon (its
    Config reads DATABASE_URL when imported)."""
    monkeypatch.setenv("DATABASE_URL", "sqlite+sqlited:///" + daemon.socket)
    monkeypatch.syspath_prepend(str(FLASK_DIR))
    _forget_app_modules()
    import app as app_pkg
    import app.models
    import app.queries
    import config
    yield app_pkg, app.models, app.queries, config
    _forget_app_modules()


@pytest.fixture
def app(seed):
    """The seed's conftest fixture, with the seed's TestConfig less its URI."""
    app_pkg, _, _, config = seed

    class TestConfig(config.Config):
        TESTING = True
        WTF_CSRF_ENABLED = False

    app = app_pkg.create_app(TestConfig)
    from app.database import db
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    from app.database import db
    yield db.session
    db.session.rollback()


def make_user(client, name):
    r = client.post("/users", json={"username": name, "email": name + "@example.com",
                                    "password": "securepassword123"})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


# ------------------------------------------------------- the seed's tests
def test_create_user(app, db_session, seed):
    User = seed[1].User
    user = User(username='testuser', email='test@example.com',
                password_hash='hashed_password')
    db_session.add(user)
    db_session.commit()
    assert user.id is not None
    retrieved = User.query.filter_by(username='testuser').first()
    assert retrieved is not None and retrieved.email == 'test@example.com'


def test_user_posts_relationship(app, db_session, seed):
    User, Post = seed[1].User, seed[1].Post
    user = User(username='author', email='author@example.com',
                password_hash='hashed_password')
    db_session.add(user)
    db_session.commit()
    post1 = Post(title='First Post', content='Content 1', user_id=user.id)
    post2 = Post(title='Second Post', content='Content 2', user_id=user.id)
    db_session.add_all([post1, post2])
    db_session.commit()
    assert user.posts.count() == 2
    assert post1.author.username == 'author'


def test_create_user_api(client):
    data = make_user(client, "apiuser")
    assert data['username'] == 'apiuser' and 'id' in data
    r = client.post('/users', json={'username': 'apiuser', 'email': 'x@example.com',
                                    'password': 'p'})
    assert r.status_code == 409 and r.get_json() == {'error': 'Username already exists'}
    r = client.post('/users', json={'username': 'other'})
    assert r.status_code == 400


# ----------------------------------------------------------- CRUD routes
def test_pagination(client):
    for i in range(25):
        make_user(client, "user%02d" % i)
    page = client.get('/users?page=2&per_page=10').get_json()
    assert len(page['users']) == 10
    assert page['total'] == 25 and page['pages'] == 3
    assert page['has_next'] and page['has_prev'] and page['current_page'] == 2
    last = client.get('/users?page=3&per_page=10').get_json()
    assert len(last['users']) == 5 and not last['has_next']
    assert client.get('/users?page=9').get_json()['users'] == []
    every = client.get('/users?per_page=1000').get_json()
    assert len(every['users']) == 25
    seen = {u['username'] for p in (1, 2, 3)
            for u in client.get('/users?page=%d&per_page=10' % p).get_json()['users']}
    assert len(seen) == 25


def test_search(client):
    for name in ("alice", "alicia", "bob"):
        make_user(client, name)
    found = client.get('/users/search?q=ALI').get_json()['users']
    assert sorted(u['username'] for u in found) == ['alice', 'alicia']
    assert len(client.get('/users/search?q=example.com').get_json()['users']) == 3
    assert client.get('/users/search').get_json() == {'users': []}


def test_get_update_delete(client, seed):
    a = make_user(client, "anne")
    b = make_user(client, "bert")
    assert client.get('/users/%d' % a['id']).get_json()['username'] == 'anne'
    assert client.get('/users/999999').status_code == 404
    r = client.put('/users/%d' % a['id'], json={'username': 'annie', 'is_active': False})
    assert r.status_code == 200
    assert r.get_json()['username'] == 'annie' and r.get_json()['is_active'] is False
    r = client.put('/users/%d' % a['id'], json={'email': 'bert@example.com'})
    assert r.status_code == 409
    Post = seed[1].Post
    from app.database import db
    db.session.add(Post(title='t', content='c', user_id=b['id']))
    db.session.commit()
    r = client.delete('/users/%d' % b['id'])
    assert r.status_code == 200, r.get_data(as_text=True)
    assert client.get('/users/%d' % b['id']).status_code == 404
    assert Post.query.count() == 0


# ------------------------------------------------------------- queries
def populate(seed):
    models = seed[1]
    from app.database import db
    users = [models.User(username=n, email=n + '@example.com', password_hash='h')
             for n in ('ann', 'bob', 'cid')]
    db.session.add_all(users)
    db.session.commit()
    python = models.Tag(name='python')
    sqlite = models.Tag(name='sqlite')
    for i in range(7):
        db.session.add(models.Post(title='ann %d' % i, content='c', user_id=users[0].id,
                                   published=i % 2 == 0, tags=[python, sqlite]))
    db.session.add(models.Post(title='bob 0', content='c', user_id=users[1].id,
                               published=True, tags=[sqlite]))
    db.session.commit()
    return users


def test_transfer_posts(app, seed):
    ann, bob, _ = populate(seed)
    queries, Post = seed[2], seed[1].Post
    assert queries.transfer_posts(ann.id, bob.id) is True
    assert Post.query.filter_by(user_id=bob.id).count() == 8
    with pytest.raises(ValueError, match="One or both users not found"):
        queries.transfer_posts(bob.id, 424242)
    assert Post.query.filter_by(user_id=bob.id).count() == 8


def test_raw_sql_through_text(app, seed):
    populate(seed)
    assert seed[2].execute_raw_query() == [{'username': 'ann', 'post_count': 7}]


def test_eager_loading_and_aggregates(app, seed):
    import sqlalchemy as sa
    from app.database import db
    populate(seed)
    queries = seed[2]
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute",
                    lambda *a: statements.append(a[2]))
    posts = queries.get_posts_with_authors()
    authors = {p.author.username for p in posts}
    assert len(statements) == 1  # one JOIN, no query per author
    assert authors == {'ann', 'bob'} and len(posts) == 5
    assert sorted(t.name for t in posts[0].tags) in (['python', 'sqlite'], ['sqlite'])
    counts = {name: n for _, name, n in queries.get_user_post_counts()}
    assert counts == {'ann': 7, 'bob': 1, 'cid': 0}
    assert {u.username for u in queries.get_active_users_with_posts()} == {'ann', 'bob'}
    assert len(queries.get_recent_posts()) == 5


def test_seed_subqueryload_of_a_dynamic_relationship_fails_as_on_sqlite(app, seed):
    # The seed's get_users_with_posts() eager-loads User.posts, a
    # lazy='dynamic' backref: SQLAlchemy refuses that before any SQL runs,
    # with a file database too. Same error here, nothing more.
    import sqlalchemy as sa
    with pytest.raises(sa.exc.InvalidRequestError, match="User.posts"):
        seed[2].get_users_with_posts()


# ----------------------------------------------------------- migrations
def test_migration_upgrade_and_downgrade(seed):
    import flask_migrate
    import sqlalchemy as sa
    app_pkg, models, _, config = seed
    app = app_pkg.create_app(config.Config)
    from app.database import db
    directory = str(FLASK_DIR / "migrations")
    with app.app_context():
        db.drop_all()  # the schema comes from the migrations here

        def columns(table):
            return {c['name'] for c in sa.inspect(db.engine).get_columns(table)}

        flask_migrate.upgrade(directory=directory, revision="xyz789")
        assert 'published' not in columns('posts')
        with db.engine.begin() as c:
            c.execute(sa.text("insert into users(username, email, password_hash) "
                              "values ('m', 'm@example.com', 'h')"))
            c.execute(sa.text("insert into posts(title, content, user_id) "
                              "values ('old', 'c', 1)"))
        flask_migrate.upgrade(directory=directory)
        assert 'published' in columns('posts')
        with db.engine.connect() as c:
            assert c.execute(sa.text("select published from posts")).scalar() == 1
            assert c.execute(sa.text("select version_num from alembic_version")).scalar() == "abc123"
        flask_migrate.downgrade(directory=directory, revision="xyz789")
        assert 'published' not in columns('posts')
        flask_migrate.downgrade(directory=directory, revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) == {'alembic_version'}
        flask_migrate.upgrade(directory=directory)
        assert {'users', 'posts', 'tags', 'post_tags'} <= set(
            sa.inspect(db.engine).get_table_names())
        db.engine.dispose()


# ------------------------------------------------ production configuration
def test_production_config_pragma_on_every_connection(daemon, seed):
    # In a process of its own: the seed's hook listens on every Engine.
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import sqlalchemy as sa\n"
            "from app import create_app\n"
            "from app.database import db\n"
            "from config import ProductionConfig\n"
            "app = create_app(ProductionConfig)\n"
            "with app.app_context(), db.engine.connect() as c:\n"
            "    print(c.execute(sa.text('PRAGMA foreign_keys')).scalar())\n")
    out = subprocess.run([sys.executable, "-c", code, str(FLASK_DIR)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


# ---------------------------------------------------------- concurrency
def test_concurrent_workers_every_request_succeeds(app, seed):
    workers, users = 4, 6
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, str(HERE / "flask_worker.py"),
                               str(FLASK_DIR), str(w), str(users)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for w in range(workers)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    for r in results:
        assert r["statuses"] == [201] * users
        assert r["posts"] == 2 * users
    User, Post = seed[1].User, seed[1].Post
    assert User.query.count() == workers * users
    assert Post.query.count() == workers * users * 2
    names = {u.username for u in User.query.all()}
    assert names == {"w%d_u%d" % (w, i) for w in range(workers) for i in range(users)}
