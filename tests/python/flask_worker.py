"""One worker process of the Flask seed app (test_flask_app.py): creates
users through the HTTP routes and posts through the ORM, then prints what
each request answered, as JSON. argv: flask_app dir, worker number, users."""

import json
import sys

sys.path.insert(0, sys.argv[1])

from app import create_app  # noqa: E402
from app.database import db  # noqa: E402
from app.models import Post, User  # noqa: E402
from config import Config  # noqa: E402


class TestConfig(Config):
    TESTING = True


def main() -> None:
    worker, users = int(sys.argv[2]), int(sys.argv[3])
    app = create_app(TestConfig)
    client = app.test_client()
    statuses = []
    posts = 0
    for i in range(users):
        name = "w%d_u%d" % (worker, i)
        r = client.post("/users", json={"username": name, "email": name + "@example.com",
                                        "password": "pw"})
        statuses.append(r.status_code)
        if r.status_code != 201:
            print(r.get_data(as_text=True), file=sys.stderr)
            continue
        with app.app_context():
            user = User.query.filter_by(username=name).first()
            db.session.add_all([Post(title="%s post %d" % (name, k), content="c",
                                     user_id=user.id) for k in range(2)])
            db.session.commit()
            posts += 2
    print(json.dumps({"statuses": statuses, "posts": posts}))


if __name__ == "__main__":
    main()
