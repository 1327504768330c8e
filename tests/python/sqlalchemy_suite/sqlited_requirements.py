"""What SQLAlchemy's compliance suite may expect of sqlite+sqlited.

The settings follow those SQLAlchemy's own test suite uses for the built-in
SQLite dialect (its test/requirements.py, for SQLite in a file), so that the
suite skips here what it skips for SQLite. The additions, each for a reason
of the daemon's, are marked ADDED:

- schemas: the suite's SQLite set-up ATTACHes a "test_schema" database;
  the daemon refuses ATTACH (it would reach past the database it serves).
- (temporary tables, temp views, their reflection: skipped for a SQLite file
  as well; the daemon also refuses every TEMP object.)
- isolation levels: SERIALIZABLE and AUTOCOMMIT only; READ UNCOMMITTED is
  PRAGMA read_uncommitted, which would change the connection every client
  shares, and the daemon refuses it.
"""

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements

open_ = exclusions.open
closed = exclusions.closed


class Requirements(SuiteRequirements):
    # ---------------------------------------------------------- ADDED skips
    @property
    def schemas(self):
        return closed()  # ADDED: ATTACH is refused by the daemon

    @property
    def cross_schema_fk_reflection(self):
        return closed()

    @property
    def implicit_default_schema(self):
        return closed()

    # ------------------------------------- as for SQLite in a file
    @property
    def temporary_tables(self):
        return closed()

    @property
    def temp_table_reflection(self):
        return closed()

    @property
    def temp_table_names(self):
        return closed()

    @property
    def temporary_views(self):
        return closed()

    @property
    def has_temp_table(self):
        return closed()

    @property
    def temp_table_reflect_indexes(self):
        return closed()

    @property
    def savepoints(self):
        return closed()

    @property
    def two_phase_transactions(self):
        return closed()

    @property
    def independent_connections(self):
        return closed()

    @property
    def foreign_keys(self):
        return closed()

    @property
    def implicitly_named_constraints(self):
        return closed()

    @property
    def on_update_cascade(self):
        return closed()

    @property
    def non_updating_cascade(self):
        return open_()

    @property
    def deferrable_fks(self):
        return closed()

    @property
    def comment_reflection(self):
        return closed()

    @property
    def update_nowait(self):
        return closed()

    @property
    def update_from(self):
        return closed()

    @property
    def delete_from(self):
        return closed()

    @property
    def ctes(self):
        return closed()

    @property
    def ctes_with_update_delete(self):
        return closed()

    @property
    def ctes_on_dml(self):
        return closed()

    @property
    def parens_in_union_contained_select_w_limit_offset(self):
        return closed()

    @property
    def parens_in_union_contained_select_wo_limit_offset(self):
        return closed()

    @property
    def nested_aggregates(self):
        return closed()

    @property
    def computed_columns(self):
        return closed()

    @property
    def computed_columns_stored(self):
        return closed()

    @property
    def computed_columns_virtual(self):
        return closed()

    @property
    def computed_columns_default_persisted(self):
        return closed()

    @property
    def computed_columns_reflect_persisted(self):
        return closed()

    @property
    def precision_numerics_many_significant_digits(self):
        return closed()

    @property
    def json_index_supplementary_unicode_element(self):
        return closed()

    # ------------------------------------------------ what SQLite does
    @property
    def foreign_key_constraint_option_reflection_ondelete(self):
        return open_()

    @property
    def fk_constraint_option_reflection_ondelete_restrict(self):
        return open_()

    @property
    def fk_constraint_option_reflection_ondelete_noaction(self):
        return open_()

    @property
    def foreign_key_constraint_option_reflection_onupdate(self):
        return open_()

    @property
    def fk_constraint_option_reflection_onupdate_restrict(self):
        return open_()

    @property
    def unique_constraint_reflection(self):
        return open_()

    @property
    def check_constraint_reflection(self):
        return open_()

    @property
    def indexes_with_expressions(self):
        return open_()

    @property
    def reflects_pk_names(self):
        return open_()

    @property
    def tuple_in(self):
        return open_()

    @property
    def window_functions(self):
        return open_()

    @property
    def nullsordering(self):
        return open_()

    @property
    def json_type(self):
        return open_()

    @property
    def reflects_json_type(self):
        return open_()

    @property
    def json_array_indexes(self):
        return open_()

    @property
    def datetime_literals(self):
        return open_()

    @property
    def datetime_historic(self):
        return open_()

    @property
    def date_historic(self):
        return open_()

    @property
    def datetime_microseconds(self):
        return open_()

    @property
    def time_microseconds(self):
        return open_()

    @property
    def emulated_lastrowid(self):
        return open_()

    @property
    def dbapi_lastrowid(self):
        return open_()

    @property
    def views(self):
        return open_()

    @property
    def unbounded_varchar(self):
        return open_()

    @property
    def mod_operator_as_percent_sign(self):
        return open_()

    @property
    def order_by_col_from_union(self):
        return open_()

    @property
    def intersect(self):
        return open_()

    @property
    def except_(self):
        return open_()

    @property
    def isolation_level(self):
        return open_()

    @property
    def autocommit(self):
        return open_()

    def get_isolation_levels(self, config):
        return {"default": "SERIALIZABLE",
                "supported": set(config.db.dialect._isolation_lookup)}

    def get_order_by_collation(self, config):
        return "NOCASE"
