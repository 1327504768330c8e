# config.py
# Flask configuration with SQLite database settings
#
# The Flask seed's configuration; its one change is SQLALCHEMY_DATABASE_URI,
# which names the sqlited daemon's socket instead of the database file.
import os

# Get the base directory of the application
basedir = os.path.abspath(os.path.dirname(__file__))

class Config:
    # Secret key for session management and CSRF protection
    SECRET_KEY = os.environ.get('SECRET_KEY') or 'dev-secret-key-change-in-production'

    # sqlited: the daemon that owns instance/app.db listens on this socket
    SQLALCHEMY_DATABASE_URI = os.environ.get('DATABASE_URL') or \
        'sqlite+sqlited:///' + os.path.join(basedir, 'var', 'sqlited.sock')

    # Disable modification tracking to save memory
    SQLALCHEMY_TRACK_MODIFICATIONS = False


# config.py
# Production configuration with connection pooling

class ProductionConfig(Config):
    # sqlited: the daemon's socket
    SQLALCHEMY_DATABASE_URI = os.environ.get('DATABASE_URL') or \
        'sqlite+sqlited:///var/sqlited.sock'

    # Pool configuration (limited effect for SQLite but useful for other databases)
    SQLALCHEMY_ENGINE_OPTIONS = {
        'pool_pre_ping': True,  # Verify connections before using
        'pool_recycle': 300,    # Recycle connections after 5 minutes
    }

    # Enable foreign key constraints for SQLite
    # By default, SQLite does not enforce foreign keys
    @staticmethod
    def init_app(app):
        # Enable foreign key support
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def set_sqlite_pragma(dbapi_connection, connection_record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
