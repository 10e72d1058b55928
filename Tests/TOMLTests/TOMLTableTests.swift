import Testing
import TOML

/// Documents as a whole: keys, tables, arrays, the lines each key keeps, and the order of keys.
@Suite struct TOMLTableTests {
    @Test func keysKeepTheirLinesAndOrder() throws {
        let root = try parse("""
            # comment
            zeta = 1
            alpha.beta = "x"   # dotted

            [server]
            "quoted key" = true
            'literal' = [1, 2.5, "three", 1979-05-27, [4], { five = 5 }]

            [[destination]]
            url = "file:///a"
            [[destination]]

            url = "file:///b"
            """)
        #expect(root.map(\.key) == ["zeta", "alpha", "server", "destination"])
        #expect(root.map(\.line) == [2, 3, 5, 9])
        #expect(root.entry("alpha")?.value.table?.entry("beta")?.line == 3)
        let server = try #require(root["server"]?.table)
        #expect(server.line == 5)
        #expect(server.map(\.key) == ["quoted key", "literal"])
        #expect(server.entry("literal")?.line == 7)
        let literal = try #require(server["literal"]?.array)
        #expect(Array(literal.prefix(5)) == [
            .integer(1), .float(2.5), .string("three"), .localDate(TOMLDate(year: 1979, month: 5, day: 27)), .array([.integer(4)]),
        ])
        #expect(literal.last?.table?.entries == [TOMLTable.Entry(key: "five", value: .integer(5), line: 7)])
        let destinations = try #require(root["destination"]?.array?.map { $0.table })
        #expect(destinations.map { $0?.line } == [9, 11])
        #expect(destinations.map { $0?.entry("url")?.line } == [10, 13])
        #expect(destinations.map { $0?["url"]?.string } == ["file:///a", "file:///b"])
    }

    @Test func keysOfEveryForm() throws {
        let root = try parse(#"""
            bare_key-1 = 1
            1234 = 2
            "" = 3
            "a.b" = 4
            site."google.com" = 5
            3.14159 = 6
            x . y . 'z' = 7
            """#)
        #expect(root.map(\.key) == ["bare_key-1", "1234", "", "a.b", "site", "3", "x"])
        #expect(root["site"]?.table?["google.com"] == .integer(5))
        #expect(root["3"]?.table?["14159"] == .integer(6))
        #expect(root["x"]?.table?["y"]?.table?["z"] == .integer(7))
    }

    @Test func implicitTablesMayBeDefinedLater() throws {
        let root = try parse("[a.b.c]\nd = 1\n[a]\ne = 2\nb.x = 3")
        let a = try #require(root["a"]?.table)
        #expect(a.line == 3)
        #expect(a.map(\.key) == ["b", "e"])
        #expect(a["b"]?.table?.map(\.key) == ["c", "x"])
        #expect(try parse("a.b.c = 1\n[a.b.d]\ne = 2")["a"]?.table?["b"]?.table?.map(\.key) == ["c", "d"])
    }

    @Test func arraysOfTablesWithSubtables() throws {
        let root = try parse("""
            [[fruits]]
            name = "apple"
            [fruits.physical]
            color = "red"
            [[fruits.varieties]]
            name = "red delicious"
            [[fruits]]
            name = "banana"
            [[fruits.varieties]]
            name = "plantain"
            """)
        let fruits = try #require(root["fruits"]?.array)
        #expect(fruits.count == 2)
        #expect(fruits[0].table?["physical"]?.table?["color"] == .string("red"))
        #expect(fruits[1].table?["varieties"]?.array?.first?.table?["name"] == .string("plantain"))
    }

    @Test func inlineTablesAndArraysAcrossLines() throws {
        let root = try parse("point = { x = 1, y.z = 2 }\nlist = [\n  1, # one\n\n  2,\n]\nempty = {}")
        #expect(root["point"]?.table?["y"]?.table?["z"] == .integer(2))
        #expect(root["list"] == .array([.integer(1), .integer(2)]))
        #expect(root.entry("empty")?.line == 7)
        #expect(root["empty"] == .table(TOMLTable()))
    }

    @Test func crlfLineEndsCountLines() throws {
        let root = try parse("a = 1\r\n\r\n[t]\r\nb = \"\"\"x\r\ny\"\"\" # c\r\nc = [\r\n1,\r\n]\r\n")
        #expect(root["t"]?.table?.entry("b")?.line == 4)
        #expect(root["t"]?.table?.entry("c")?.line == 6)
        #expect(root["t"]?.table?["b"] == .string("x\ny"))
        expectRefused("a = 1\r\nb = 2\r", line: 2, "carriage return")
        expectRefused("a = 1\rb = 2", line: 1, "carriage return")
    }

    /// Nesting 100,000 deep is refused, without exhausting the stack, at the depth limit.
    @Test func deepNestingIsAnErrorNotAStackOverflow() throws {
        let deep = 100_000
        expectRefused("a = " + String(repeating: "[", count: deep), line: 1, "nested deeper than 128")
        expectRefused("a = " + String(repeating: "{b=", count: deep), line: 1, "nested deeper than 128")
        expectRefused("a = " + String(repeating: "[{b=", count: deep), line: 1, "nested deeper than 128")
        expectRefused("x = 1\n[" + Array(repeating: "a", count: deep).joined(separator: ".") + "]", line: 2, "nested deeper than 128")
        expectRefused(Array(repeating: "a", count: deep).joined(separator: ".") + " = 1", line: 1, "nested deeper than 128")
        expectRefused("[" + Array(repeating: "a", count: 100).joined(separator: ".") + "]\n"
            + Array(repeating: "b", count: 100).joined(separator: ".") + " = 1", line: 2, "nested deeper than 128")
        // 128 is allowed.
        let allowed = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        #expect(try parse("a = " + allowed)["a"] != nil)
    }

    @Test func syntaxErrorsNameLineColumnAndWhatWasExpected() {
        let error = refusal("a = 1\n\n[store\nroot = \"/\"")
        #expect(error?.line == 3)
        #expect(error?.column == 7)
        #expect(error?.reason == "expected ']' after the table's name, found a newline")
        expectRefused("a = 1 b = 2", line: 1, "expected a newline or a comment after the value of 'a', found 'b'")
        expectRefused("[a]\nb", line: 2, "expected '=' after the key 'b', found end of file")
        expectRefused("a = [1 2]", line: 1, "expected ',' or ']'")
        expectRefused("t = {a = 1,}", line: 1, "expected a key of the inline table")
        expectRefused("t = {a = 1\n}", line: 1, "an inline table is on one line")
        expectRefused("[ #c]", line: 1, "expected the table's name after '['")
        expectRefused("\u{FEFF}a = 1", line: 1, "found U+FEFF")
        expectRefused("[\"a\u{1B}[2J\"]\n[\"a\u{1B}[2J\"]", line: 1, "control character")
        expectRefused("[\"a\\u001B[2J\"]\n[\"a\\u001B[2J\"]", line: 2, #"table '"a\u{1b}[2J"' is already defined"#)
    }
}
