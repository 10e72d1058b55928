import Foundation
import Logging

/// The HTTP requests of credential providers (STS, SSO, the container agent, instance
/// metadata), sent through a curl multi thread of their own so that they never wait behind a
/// destination's uploads. `send` blocks its caller: providers run on dedicated threads.
final class CredentialHTTP: Sendable {
    private let curl: CurlMulti

    /// - Parameters:
    ///   - timeout: the connect timeout, and how long an answer may move no byte.
    ///   - attempts: tries in all for a request that fails transiently.
    init(name: String, timeout: Duration, attempts: Int, logger: Logger) {
        let retry = RequestRetryPolicy(
            maximumAttempts: attempts, initialDelay: .milliseconds(100), maximumDelay: .seconds(1),
            maximumTotalTime: timeout * (attempts * 2))
        let settings = TransferSettings(connectTimeout: timeout, stallTimeout: timeout, netrcFile: nil, retry: retry)
        curl = CurlMulti(name: name, settings: settings, statistics: TransferStatistics(), logger: logger, destination: name)
    }

    /// Instance metadata and the container agent: about a second, twice, so that a machine
    /// without them learns so within seconds.
    /// Its retries are not logged: outside AWS, the one failure that counts is the chain's.
    static func local(logger: Logger) -> CredentialHTTP {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        return CredentialHTTP(name: "narsync-imds", timeout: .seconds(1), attempts: 2, logger: quiet)
    }

    /// STS and SSO, across the internet.
    static func remote(logger: Logger) -> CredentialHTTP {
        CredentialHTTP(name: "narsync-sts", timeout: .seconds(10), attempts: 3, logger: logger)
    }

    /// Sends `request` (built anew for each attempt, so signatures carry the attempt's time)
    /// and waits for the answer, whatever its status.
    /// - Parameter label: "STS AssumeRole", for messages; never the request, which may hold tokens.
    func send(label: String, _ makeRequest: @escaping @Sendable () -> HTTPRequest) throws -> HTTPResponse {
        let outcome = curl.perform(label: label, isTransient: { RequestRetryPolicy.isTransient(status: $0.status, errorCode: nil) }, makeRequest: makeRequest)
        switch outcome.result {
        case .success(let response): return response
        case .failure(let failure): throw CredentialSourceError.failed("\(label): \(failure.message)")
        }
    }

    /// `send`, with anything but 2xx an error naming the status and an AWS error code.
    func sendExpectingSuccess(label: String, _ makeRequest: @escaping @Sendable () -> HTTPRequest) throws -> HTTPResponse {
        let response = try send(label: label, makeRequest)
        guard response.isSuccess else { throw Self.failure(label, response) }
        return response
    }

    static func failure(_ label: String, _ response: HTTPResponse) -> CredentialSourceError {
        let code = S3ErrorBody(response.body).map { " \($0.code)" } ?? ""
        return .failed("\(label) answered HTTP \(response.status)\(code)")
    }
}
