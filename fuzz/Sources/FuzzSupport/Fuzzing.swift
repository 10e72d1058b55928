import CLibFuzzer
import Glibc

/// The body of the running fuzzer; set once, before libFuzzer starts calling it.
nonisolated(unsafe) private var fuzzBody: (([UInt8]) -> Void)?

/// Runs libFuzzer over `body`, with the command line's libFuzzer flags, and exits with its status.
///
/// SwiftPM gives every executable a main of its own, so libFuzzer's main cannot be used;
/// `LLVMFuzzerRunDriver` is libFuzzer's way in for such programs.
public func fuzz(_ body: @escaping ([UInt8]) -> Void) -> Never {
    fuzzBody = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}

/// Also the symbol libFuzzer's own (unused) main refers to, so that it links.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzBody?(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// Stops the fuzzer with a crash, so that libFuzzer keeps the input, when an invariant breaks.
public func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("invariant broken: \(message())", file: file, line: line) }
}

/// Requires `message` (an error's description, an answer line) to be one printable line: a
/// hostile input must not forge log lines or send escape sequences to a terminal.
public func requirePrintable(_ message: String, _ what: String, file: StaticString = #fileID, line: UInt = #line) {
    let control = message.unicodeScalars.first { $0.value < 0x20 || $0.value == 0x7f }
    require(control == nil, "\(what) holds control character U+\(String(control?.value ?? 0, radix: 16)): \(message.debugDescription)", file: file, line: line)
}

/// The input as text, if it is UTF-8 (as the files and answers narsync reads must be).
public func utf8(_ bytes: [UInt8]) -> String? {
    String(validating: bytes, as: UTF8.self)
}
