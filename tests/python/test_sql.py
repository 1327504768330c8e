"""The driver's statement outline (sqlited/sql.py), without a daemon."""

from sqlited import sql


def texts(s):
    return [st.text for st in sql.split(s)]


def test_split_respects_strings_comments_and_trigger_bodies():
    assert texts("select ';'; select \"a;b\" -- x;\n; /* ; */ select [c;d]") == [
        "select ';'", "select \"a;b\" -- x;", "/* ; */ select [c;d]"]
    body = ("create trigger t after insert on a begin "
            "update a set v = case when 1 then 2 end; delete from b; end")
    assert texts(body + "; select 1") == [body, "select 1"]
    assert texts("  ;; -- only a comment") == []
    big = "select 1;" * 2000  # longer than the cache takes
    assert len(sql.split(big)) == 2000


def test_named_parameters_and_keywords():
    st, = sql.split("insert into t values (:a, @b, $c, ?, ?2, :a, ':no')")
    assert st.names == (":a", "@b", "$c")
    assert st.is_dml and st.keyword == "INSERT" and not st.reads
    assert sql.split("WITH x AS (select 1) select * from x")[0].reads
    # Schema-reading pragmas stream from a reader; the others go to the writer.
    assert sql.split("pragma table_info(t)")[0].reads
    assert sql.split('PRAGMA main.foreign_key_list("t")')[0].reads
    assert not sql.split("pragma foreign_keys")[0].reads
    assert not sql.split("pragma user_version = 3")[0].reads


def test_pragma_outline():
    st, = sql.split("PRAGMA main.busy_timeout = 250")
    assert st.pragma_name == "busy_timeout" and st.has_value and st.assigns
    st, = sql.split("pragma busy_timeout")
    assert st.pragma_name == "busy_timeout" and not st.has_value


def test_transaction_control():
    c = lambda s: sql.control(sql.split(s)[0])  # noqa: E731
    assert c("BEGIN") == sql.Control("begin", "deferred")
    assert c("begin exclusive transaction") == sql.Control("begin", "immediate")
    assert c("END") == sql.Control("commit")
    assert c("rollback transaction") == sql.Control("rollback")
    assert c('ROLLBACK TRANSACTION TO SAVEPOINT "Sp"') == sql.Control("rollback_to", name="sp")
    assert c("rollback to sp") == sql.Control("rollback_to", name="sp")
    assert c("savepoint sa_savepoint_1") == sql.Control("savepoint", name="sa_savepoint_1")
    assert c("release savepoint x") == sql.Control("release", name="x")
    assert c("select 1") is None
