import Testing
import TOML

/// Basic and literal strings, one-line and multi-line, with every escape.
@Suite struct StringTests {
    @Test func basicStringsDecodeEveryEscape() throws {
        #expect(try value(#""\b\t\n\f\r\"\\""#) == .string("\u{8}\t\n\u{C}\r\"\\"))
        #expect(try value(#""\u00E9\u00e9 \U0001F600 \u0000""#) == .string("éé 😀 \u{0}"))
        #expect(try value("\"tab\tand é\"") == .string("tab\tand é"))
        #expect(try value(#""""#) == .string(""))
    }

    @Test func literalStringsKeepBackslashes() throws {
        #expect(try value(#"'C:\Users\n'"#) == .string(#"C:\Users\n"#))
        #expect(try value(#"'say "hi"'"#) == .string(#"say "hi""#))
    }

    @Test func multiLineStringsTrimTheFirstNewlineAndJoinEscapedLineEnds() throws {
        #expect(try value("\"\"\"\nRoses\nViolets\"\"\"") == .string("Roses\nViolets"))
        #expect(try value("\"\"\"\nThe quick \\\n\n   brown \\   \n  fox\"\"\"") == .string("The quick brown fox"))
        #expect(try value("'''\n  kept \\\n'''") == .string("  kept \\\n"))
        #expect(try value("\"\"\"two \"\" inside\"\"\"") == .string("two \"\" inside"))
        #expect(try value("\"\"\"\"one at each end\"\"\"\"") == .string("\"one at each end\""))
        #expect(try value("\"\"\"two at the end\"\"\"\"\"") == .string("two at the end\"\""))
        #expect(try value(#"'''a'''''"#) == .string("a''"))
        #expect(try value("\"\"\"a\r\nb\"\"\"") == .string("a\nb"))
    }

    @Test func badStringsAreRefusedAtTheirLine() {
        expectRefused("a = 1\ns = \"\\x\"", line: 2, "is not an escape")
        expectRefused("s = \"\\uD800\"", line: 1, "not a Unicode scalar value")
        expectRefused("s = \"\\U00110000\"", line: 1, "not a Unicode scalar value")
        expectRefused("s = \"\\u12\"", line: 1, "expected 4 hexadecimal digits")
        expectRefused("s = \"open\nt = 1", line: 1, "expected '\"' to end the string")
        expectRefused("\n\ns = \"\"\"\nopen\n", line: 5, "multi-line string that starts at line 3")
        expectRefused("s = \"\"\"a \\ b\"\"\"", line: 1, "must end its line")
        expectRefused("s = \"\"\"a\"\"\"\"\"\"", line: 1, "expected a newline or a comment after the value of 's'")
        expectRefused("\"\"\"key\"\"\" = 1", line: 1, "a key cannot be a multi-line string")
        // The first three quotes after the opening ones close the string.
        expectRefused(#"s = """"""ends early"""#, line: 1, "expected a newline or a comment after the value of 's', found 'e'")
    }

    @Test func controlCharactersMustBeEscaped() {
        for control in ["\u{0}", "\u{1}", "\u{1B}", "\u{7F}", "\r"] {
            expectRefused("s = \"a\(control)\"", line: 1, "is a control character")
            expectRefused("s = 'a\(control)'", line: 1, "is a control character")
            expectRefused("s = \"\"\"\n\na\(control)\"\"\"", line: 3, "is a control character")
            expectRefused("s = '''a\(control)'''", line: 1, "is a control character")
            expectRefused("a = 1\n# comment \(control)", line: 2, "a comment cannot hold")
        }
    }
}
