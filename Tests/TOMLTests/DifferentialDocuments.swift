/// Documents for the differential test against Python's tomllib: the features of TOML 1.0 and
/// the corners of its grammar and of its rules against redefinition, valid and invalid alike.
/// Left out: integers beyond 64 bits (tomllib reads any size; TOML asks for an error) and the
/// year 0000 (RFC 3339 has it, Python's datetime does not).
enum DifferentialDocuments {
    static let all: [String] = valid + invalid + controlCharacters

    static let valid: [String] = [
        "", "\n", "# only a comment", "a = 1", "a = 1 # comment", "a=1", "a\t=\t1\t", "\n\n  a = 1  \n\n",
        // Keys.
        #"bare_key-1 = 1"#, #"1234 = "digits""#, #"-_- = 1"#, #""quoted key" = 1"#, #"'literal key' = 1"#,
        #""" = "empty""#, #"'' = "empty""#, #""a.b" = 1"#, #"a."b.c".d = 1"#, #"3.14159 = "pi""#,
        "a . b . c = 1", "a.b = 1\na.c = 2\nd = 3", #""ʎǝʞ" = "unicode""#, #""\u00e9" = 1"#, #"true = false"#,
        #"a = 1\n"a\u0000" = 2"#, "inf = 1\nnan = 2",
        // Strings.
        #"s = "I'm a string. \"You can quote me\". Name\tJos\u00E9\nLocation\tSF.""#,
        #"s = "\b\t\n\f\r\"\\ \u0041 \U0001F600 \u0000 \u007F""#, "s = \"tab\there\"", "s = 'tab\there'",
        #"s = 'C:\Users\nodejs\templates'"#, #"s = '<\i\c*\s*>'"#, #"s = 'Tom "Dubs" Preston-Werner'"#,
        "s = \"\"\"\nRoses are red\nViolets are blue\"\"\"",
        "s = \"\"\"\n\nfirst line blank\"\"\"",
        "s = \"\"\"\nThe quick brown \\\n\n\n  fox jumps over \\\n    the lazy dog.\"\"\"",
        "s = \"\"\"\\\n       The quick brown \\\n       fox jumps over \\\n       the lazy dog.\\\n       \"\"\"",
        "s = \"\"\"trailing blanks after the backslash \\   \t\n  end\"\"\"",
        #"s = """Here are two quotation marks: "". Simple enough.""""#,
        #"s = """Here are three quotation marks: ""\".""""#,
        #"s = """This,"" she said, "is just a pointless statement.""""""#,
        #"s = """"""""#, #"s = """"one quote at each end""""#, #"s = """""two quotes""""""#,
        "s = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''",
        #"s = '''Here are fifteen quotation marks: """""""""""""""'''"#, #"s = ''''That,' she said, 'is still pointless.''''"#,
        #"s = ''''''"#, #"s = '''''two'''''"#, "s = \"\"\"\n\"\"\"", "s = '''\n'''", "s = \"\"\"a\tb\"\"\"",
        ##"s = "# not a comment""##, #"s = "[not] {a} 'table'""#, "s = \"é ü 日本 😀\"",
        // Integers.
        "i = [+99, 42, 0, 17, -17, -0, +0, 1_000, 5_349_221, 53_49_221, 1_2_3_4_5]",
        "i = [0xDEADBEEF, 0xdeadbeef, 0xdead_beef, 0x0, 0x00FF, 0o01234567, 0o755, 0b11010110, 0b0_1, 0o0]",
        "i = [9223372036854775807, -9223372036854775808, 0x7FFFFFFFFFFFFFFF, 0o777777777777777777777, 0b111111111111111111111111111111111111111111111111111111111111111]",
        // Floats.
        "f = [+1.0, 3.1415, -0.01, 5e+22, 1e06, -2E-2, 6.626e-34, 224_617.445_991_228, 0.0, -0.0, +0.0, 0e0, 1e-0, 1E+0]",
        "f = [inf, +inf, -inf, nan, +nan, -nan]", "f = [1e400, -1e400, 1e-400, 4.9e-324, 1.7976931348623157e308]",
        "f = [0.1, 0.2, 0.30000000000000004, 9007199254740993.0, 1_0.0_1e1_0, 123456789012345678901234567890.0]",
        // Booleans.
        "b = true\nc = false",
        // Dates and times.
        "odt = [1979-05-27T07:32:00Z, 1979-05-27T00:32:00-07:00, 1979-05-27T00:32:00.999999-07:00, 1979-05-27 07:32:00Z]",
        "odt = [1979-05-27t07:32:00z, 1979-05-27T07:32:00+23:59, 1979-05-27T07:32:00.1234567891Z, 1979-05-27T07:32:00-00:00]",
        "ldt = [1979-05-27T07:32:00, 1979-05-27T00:32:00.999999, 1979-05-27 00:32:00.5, 0001-01-01T00:00:00]",
        "ld = [1979-05-27, 2000-02-29, 2024-02-29, 9999-12-31]", "lt = [07:32:00, 00:32:00.999999, 23:59:59.1]",
        "d = 1979-05-27 # a date then a comment", "d = 1979-05-27\t# tab", "t = 1979-05-27T07:32:00Z # comment",
        // Arrays.
        "a = []", "a = [ ]", "a = [1]", "a = [1,]", "a = [1, 2, 3,  ]", "a = [[1, 2], [\"a\", 'b'], [[]], []]",
        "a = [\"all\", 'strings', \"\"\"are the same\"\"\", '''type''']", "a = [0.1, 0.2, 0.5, 1, 2, 5]",
        "a = [\n  1,\n  2, # comment\n  # another\n\n  3\n]", "a = [ # comment\n]", "a = [\n1\n,\n2\n,\n]",
        "a = [ { x = 1, y = 2, z = 3 }, { x = 7, y = 8, z = 9 }, { x = 2, y = 4, z = 8 } ]",
        "a = [1, \"mixed\", 1.5, true, 1979-05-27, [2], {k = 'v'}]",
        // Inline tables.
        "name = { first = \"Tom\", last = \"Preston-Werner\" }", "point = { x = 1, y = 2 }", "animal = { type.name = \"pug\" }",
        "t = {}", "t = { }", "t = {a={b={c={}}}}", "t = { a.b = 1, a.c = 2, d = [1, {e = 3}] }", "t = {\"a b\" = 1, 'c' = 2}",
        "t = { a = [\n1,\n2\n] }", "t = { s = \"\"\"\nmulti\nline\"\"\" }",
        // Tables.
        "[table]", "[table-1]\nkey1 = \"some string\"\nkey2 = 123\n\n[table-2]\nkey1 = \"another string\"\nkey2 = 456",
        "[dog.\"tater.man\"]\ntype.name = \"pug\"", "[a.b.c]", "[ d.e.f ]", "[ g .  h  . i ]", "[ j . \"ʞ\" . 'l' ]",
        "[x.y.z.w]\n[x]", "[a.b.c]\nd = 1\n[a]\ne = 2", "[a.b.c]\nz = 9\n[a]\nb.x = 1", "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true",
        "a.b.c = 1\n[a.b.d]\ne = 2", "[\"\"]\na = 1", "['']\n[''.'']", "[a]\n[a.b]\n[a.c]\n[b]",
        "# Top-level\na = 1\n[t] # comment\nb = 2 # comment\n", "[t]\n\n\n# comment\n\nk = 1",
        // Arrays of tables.
        "[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n[[products]]  # empty table within the array\n\n[[products]]\nname = \"Nail\"\nsku = 284758393\ncolor = \"gray\"",
        "[[fruits]]\nname = \"apple\"\n[fruits.physical]\ncolor = \"red\"\nshape = \"round\"\n[[fruits.varieties]]\nname = \"red delicious\"\n[[fruits.varieties]]\nname = \"granny smith\"\n[[fruits]]\nname = \"banana\"\n[[fruits.varieties]]\nname = \"plantain\"",
        "[[a]]\n[a.b]\n[[a]]\n[a.b]", "[[ a ]]\n[[ a ]]", "[[a.b]]\n[[a.b]]\n[a]\nc = 1", "points = [ { x = 1 } ]\n[other]",
        "[[a]]\nb.c = 1\nb.d = 2", "[x]\n[[x.y]]\nz = 1\n[[x.y]]",
        // Line endings and blanks.
        "a = 1\r\nb = 2\r\n", "a = \"\"\"x\r\ny\"\"\"\r\n", "a = '''\r\nx\r\n'''", "a = [\r\n1,\r\n]\r\n", "# c\r\n[t]\r\nk = 1 # c\r\n",
        "s = \"\"\"a \\\r\n   b\"\"\"", "\t[t]\t\n\tk\t=\t1\t", "a = 1\n\n\n\n",
    ]

    static let invalid: [String] = [
        // Document structure.
        "a", "a =", "= 1", "a = 1 b = 2", "a b = 1", "a = 1 2", "a.= 1", ".a = 1", "a..b = 1", "a. = 1", "a = # c",
        "\"a = 1", "'a = 1", "\"\"\"a\"\"\" = 1", "'''a''' = 1", "a = 1\n=", "#\n]", "a == 1", "a = 1,", "a = {}}", "a = []]",
        "ʎǝʞ = 1", "a.\"b\"c = 1", "\"a\"b = 1", "a = 1 # comment\nb", "\u{FEFF}a = 1", "a\u{00A0}= 1",
        // Redefinition.
        "a = 1\na = 2", "a = 1\n\"a\" = 2", "a = 1\n'a' = 2", "a.b = 1\na.b = 2", "a.b = 1\na = 2", "a = 1\na.b = 2",
        "a.b = 1\na.b.c = 2", "[a]\n[a]", "[a]\nb = 1\n[a]", "[a]\nb = 1\n[a.b]", "[a.b]\n[a]\n[a]", "[a]\n[\"a\"]",
        "a = {}\n[a]", "a = {b = 1}\n[a.c]", "a = {b = 1}\na.c = 2", "a = {b.c = 1}\na.b.d = 2", "a = []\n[[a]]", "a = [{}]\n[[a]]",
        "a = [{}]\n[a.b]", "[[a]]\n[a]", "[a]\n[[a]]", "a.b = 1\n[a]", "[x]\na.b = 1\n[x.a]", "[a.b.c]\nz = 9\n[a]\nb.c.t = 1",
        "[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1", "[a.b.c]\n[a]\nb.x = 1\n[a.b]", "[[a.b]]\n[a]\nb.c = 1", "[[a]]\nb = 1\n[a.b]",
        "a = 1\n[a]", "a = 1\n[a.b]", "a = 1\n[[a]]", "a = \"x\"\n[[a.b]]", "[t]\na = 1\n[t.a]", "[t.a]\n[t]\na = 1",
        "t = { a = 1, a = 2 }", "t = { a = { b = 1 }, a.c = 2 }", "t = { a.b = 1, a = 2 }", "t = { a.b = 1, a.b = 2 }",
        "[fruit]\napple.color = \"red\"\n[fruit.apple]", "[fruit.apple]\n[fruit]\napple.color = \"red\"",
        "[product]\ntype = { name = \"Nail\" }\ntype.edible = false", "[product]\ntype.name = \"Nail\"\ntype = { edible = false }",
        // Headers.
        "[]", "[ ]", "[a", "[a]]", "[[a]", "[[a] ]", "[ [a] ]", "[a] b = 1", "[a.]", "[.a]", "[a..b]", "[\"a]", "[a.b.]",
        "[[]]", "[a b]", "[a]x", "[a]\n[]", "[ #c\n]", "[[\na]]", "[a = 1]", "['''a''']", "[\"\"\"a\"\"\"]", "[a.\"b\"c]",
        // Strings.
        #"s = "\x41""#, #"s = "\u00""#, #"s = "\u00G0""#, #"s = "\uD800""#, #"s = "\uDFFF""#, #"s = "\U00110000""#,
        #"s = "\UFFFFFFFF""#, #"s = "\e""#, #"s = "\ ""#, #"s = "\""#, "s = \"\\\n\"", "s = \"no end", "s = 'no end",
        "s = \"no end\n\"", "s = 'a\nb'", "s = \"\"\"no end", "s = '''no end", "s = \"\"\"a\\ b\"\"\"", "s = \"\"\"a\\x\"\"\"",
        "s = \"\"\"\"\"\"\"\"\"", "s = '''''''''", "s = \"\"\"a\"\"\"\"\"\"", "s = \"a\" \"b\"", "s = 'a''b'", "s = \"\"\"a\\\tb\"\"\"",
        // Integers.
        "i = 01", "i = 00", "i = -01", "i = +01", "i = 0_0", "i = 1__2", "i = _1", "i = 1_", "i = +0x1", "i = -0x1", "i = 0X1",
        "i = 0x", "i = 0xg", "i = 0x_1", "i = 0x1_", "i = 0o8", "i = 0b2", "i = 0B1", "i = 0O7", "i = +-1", "i = --1", "i = ++1",
        "i = +", "i = -", "i = 1-2", "i = 1+2", "i = 0x1.0", "i = 1x", "i = 1 000", "i = 0b", "i = 0o", "i = -0b1",
        // Floats.
        "f = 1.", "f = .1", "f = +.1", "f = 1e", "f = 1e+", "f = 1.e1", "f = 1e1.5", "f = 1.0e_1", "f = 1_.0", "f = 1._0",
        "f = 0.0_", "f = 00.1", "f = 01.0", "f = -01.5", "f = 1__000.0", "f = 1.0.0", "f = 1e1e1", "f = inf1", "f = nan_",
        "f = Inf", "f = NaN", "f = infinity", "f = +-inf", "f = -nan1", "f = 1.5f", "f = 1.0E", "f = 3.e+20", "f = 1e_1",
        // Booleans and words.
        "b = True", "b = FALSE", "b = tru", "b = truee", "b = true1", "b = yes", "b = on", "b = t", "b = null",
        // Dates and times.
        "d = 1979-13-01", "d = 1979-00-01", "d = 1979-02-30", "d = 1979-02-29", "d = 1900-02-29", "d = 1979-04-31", "d = 1979-05-00",
        "d = 1979-05-27T25:00:00", "d = 1979-05-27T24:00:00", "d = 1979-05-27T07:60:00", "d = 07:32:60", "d = 07:32", "d = 7:32:00",
        "d = 1979-05-27T07:32", "d = 1979-05-27T07", "d = 1979-05-27T", "d = 1979-05-27 07:32", "d = 1979-5-27", "d = 79-05-27",
        "d = 1979-05-27T07:32:00+7:00", "d = 1979-05-27T07:32:00+07", "d = 1979-05-27T07:32:00+24:00", "d = 1979-05-27T07:32:00+07:60",
        "d = 1979-05-27T07:32:00.", "d = 07:32:00.", "d = 1979-05-27T07:32:00Zjunk", "d = 1979-05-27T07:32:00 Z",
        "d = 1979-05-27X07:32:00", "d = 1979-05-27_07:32:00", "d = 1979-05-27  07:32:00", "d = 1979-05-27T07:32:00.5.5",
        "d = 19790-05-27", "d = 1979-05-270", "d = 07:32:00Z", "d = 07:32:00+01:00", "d = 1979-05-27Z", "d = 1979-05-27 x",
        "d = 1979-05-27T07:32:00-", "d = +1979-05-27", "d = 1979-05-27T07:32:00.123+", "d = 12:30:00:00",
        // Arrays.
        "a = [", "a = [1", "a = [1,", "a = [1 2]", "a = [,]", "a = [1,,2]", "a = [,1]", "a = ]", "a = [1}", "a = [1]]",
        "a = [\n1\n2\n]", "a = [ # comment ]", "a = [\"a\" 'b']", "a = [[1]", "a = [{]",
        // Inline tables.
        "t = {", "t = {a = 1", "t = {a = 1,}", "t = {,}", "t = {a = 1 b = 2}", "t = {\n}", "t = {a = 1\n}", "t = {\na = 1}",
        "t = {a = 1, # c\n b = 2}", "t = {a}", "t = {a =}", "t = {= 1}", "t = {a = 1,, b = 2}", "t = {a = 1}\nt.b = 2",
        "t = {a = 1} b = 2", "t = {a = [}", "t = {a.b.c = 1, a.b = 2}",
    ]

    /// Control characters and stray carriage returns, everywhere they can be.
    static let controlCharacters: [String] = {
        var documents: [String] = []
        for code in [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x0D, 0x1B, 0x1F, 0x7F] {
            let control = String(Unicode.Scalar(UInt8(code)))
            documents += [
                "# comment \(control) here", "s = \"a\(control)b\"", "s = 'a\(control)b'", "s = \"\"\"a\(control)b\"\"\"",
                "s = '''a\(control)b'''", "a = 1\(control)", "\(control)a = 1", "a\(control) = 1", "a = [1,\(control)2]",
            ]
        }
        documents += [
            "a = 1\rb = 2", "a = 1\r", "\r\n\r", "# c\r", "s = \"\"\"a\rb\"\"\"", "s = '''a\r'''", "a = [\r1]", "[a]\r",
            "s = \"\\u0000\\u001f\\u007f\"", "s = \"\\U0010FFFF\"", "# \u{80} \u{9F} \u{2028} in a comment are fine", "s = '\u{85}'",
            "a = 1\r\n\r\n", "\r\n",
        ]
        return documents
    }()
}
