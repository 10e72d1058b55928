import Testing
import TOML

/// TOML's rules against defining a key or a table twice, each refused at the second definition.
@Suite struct RedefinitionTests {
    @Test func aKeyIsDefinedOnce() {
        expectRefused("a = 1\na = 2", line: 2, "'a' is already defined (line 1)")
        expectRefused("a = 1\n\"a\" = 2", line: 2, "already defined")
        expectRefused("a.b = 1\na.b = 2", line: 2, "'a.b' is already defined")
        expectRefused("a.b = 1\na = 2", line: 2, "already defined")
        expectRefused("a = 1\na.b = 2", line: 2, "'a' is already a value of type integer (line 1)")
        expectRefused("t = { x = 1, x = 2 }", line: 1, "'x' is already defined")
    }

    @Test func aTableIsDefinedOnce() {
        expectRefused("[a]\n[a]", line: 2, "table 'a' is already defined (by a header at line 1)")
        expectRefused("[a]\nb = 1\n\n[a.b]", line: 4, "'b' is already a value of type integer (line 2), not a table for [a.b]")
        expectRefused("[a.b]\n[a]\n[a]", line: 3, "table 'a' is already defined")
        expectRefused("a.b = 1\n[a]", line: 2, "already defined (by dotted keys at line 1)")
        expectRefused("[x]\na.b = 1\n[x.a]", line: 3, "already defined (by dotted keys at line 2)")
        expectRefused("[a.b.c]\n[a]\nb.x = 1\n[a.b]", line: 4, "by dotted keys at line 3")
        expectRefused("a = 1\n[a]", line: 2, "'a' is already a value of type integer (line 1), not a table for [a]")
    }

    @Test func dottedKeysCannotAddToTablesOfHeaders() {
        expectRefused("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", line: 4, "table 'c' is defined by a header (line 1)")
        expectRefused("[[a.b]]\n[a]\nb.c = 1", line: 3, "'b' is an array of tables")
    }

    @Test func inlineTablesAreClosed() {
        expectRefused("a = {}\n[a]", line: 2, "'a' is an inline table (line 1), which [a] cannot extend")
        expectRefused("a = {b = 1}\n[a.c]", line: 2, "inline table")
        expectRefused("a = {b = 1}\na.c = 2", line: 2, "which the dotted key 'a.c' cannot extend")
        expectRefused("t = { a = { b = 1 }, a.c = 2 }", line: 1, "inline table")
        expectRefused("[product]\ntype = { name = \"Nail\" }\ntype.edible = false", line: 3, "inline table")
    }

    @Test func staticArraysAreClosed() {
        expectRefused("a = []\n[[a]]", line: 2, "'a' is an array defined at line 1; [[a]] cannot append to it")
        expectRefused("a = [{}]\n[a.b]", line: 2, "not a table for [a.b]")
        expectRefused("[[a]]\n[a]", line: 2, "'a' is already an array of tables (line 1)")
        expectRefused("[a]\n[[a]]", line: 2, "'a' is already a table (line 1), not an array of tables")
    }
}
