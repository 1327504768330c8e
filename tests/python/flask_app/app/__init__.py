# app/__init__.py
# Flask application factory with SQLite initialization
from flask import Flask
from flask_migrate import Migrate
from config import Config
from app.database import db, init_db

migrate = Migrate()

def create_app(config_class=Config):
    """
    Application factory function.
    Creates and configures the Flask application.
    """
    # Create the Flask application instance
    app = Flask(__name__, instance_relative_config=True)

    # Load configuration from the config class
    app.config.from_object(config_class)

    # Ensure the instance folder exists for the SQLite database
    import os
    try:
        os.makedirs(app.instance_path)
    except OSError:
        pass  # Folder already exists

    # Production configurations register their engine hooks here
    if hasattr(config_class, 'init_app'):
        config_class.init_app(app)

    # Initialize the database with this app
    init_db(app)
    migrate.init_app(app, db)  # Add this line

    # Register blueprints for routes
    from app.routes import main_bp
    app.register_blueprint(main_bp)

    return app
