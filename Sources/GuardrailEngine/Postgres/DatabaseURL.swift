import Foundation
import NIOSSL
import PostgresNIO

/// A password or token. It prints as `***` wherever it ends up: logs, errors, plans.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "***" }
    public var debugDescription: String { "***" }
}

/// A parsed `postgres://user:password@host:port/database?sslmode=...` URL.
///
/// The password is a `Secret`; `redacted` is the only way the URL is ever shown.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var unixSocketPath: String?
    public var user: String
    public var password: Secret?
    public var database: String
    public var sslMode: SSLMode

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(host: String, port: Int = 5432, user: String, password: String?, database: String, sslMode: SSLMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password.map(Secret.init)
        self.database = database
        self.sslMode = sslMode
    }

    /// Parses a libpq-style URL. Errors never repeat the URL, which may hold a password.
    public init(parsing text: String) throws {
        guard let components = URLComponents(string: text) else {
            throw ParseError(description: "the database URL is not a valid URL (expected postgres://user:password@host:port/database)")
        }
        guard let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql" else {
            throw ParseError(description: "the database URL must start with postgres:// or postgresql://")
        }
        var host = components.percentEncodedHost.flatMap { $0.removingPercentEncoding } ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.port = components.port ?? 5432
        self.user = components.percentEncodedUser?.removingPercentEncoding ?? NSUserName()
        self.password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }.map(Secret.init)
        var path = components.percentEncodedPath.removingPercentEncoding ?? ""
        if path.hasPrefix("/") { path.removeFirst() }
        self.database = path.isEmpty ? user : path
        self.sslMode = .prefer
        self.unixSocketPath = nil
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw ParseError(
                        description:
                            "unknown sslmode \"\(item.value ?? "")\" in the database URL; use one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                sslMode = mode
            case "host":
                // libpq puts a Unix socket directory in ?host=/path.
                if let value = item.value, value.hasPrefix("/") {
                    unixSocketPath = value + "/.s.PGSQL.\(port)"
                } else if let v = item.value {
                    host = v
                }
            case "application_name", "connect_timeout", "options":
                continue
            default:
                throw ParseError(description: "unsupported parameter \"\(item.name)\" in the database URL")
            }
        }
        if host.isEmpty && unixSocketPath == nil { host = "localhost" }
        self.host = host
    }

    /// The URL with the password replaced by `***`: what logs and errors show.
    public var redacted: String {
        let auth = password == nil ? user : "\(user):***"
        let where_ = unixSocketPath ?? "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        return "postgres://\(auth)@\(where_)/\(database)"
    }

    public var description: String { redacted }

    /// A postgres-nio configuration, with `application_name` set so lock holders can be named.
    func connectionConfiguration(applicationName: String) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socket = unixSocketPath {
            configuration = .init(unixSocketPath: socket, username: user, password: password?.value, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch tlsMode {
            case .none: tls = .disable
            case .prefer(let configuration): tls = .prefer(try NIOSSLContext(configuration: configuration))
            case .require(let configuration): tls = .require(try NIOSSLContext(configuration: configuration))
            }
            configuration = .init(host: host, port: port, username: user, password: password?.value, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// The same connection settings for a postgres-nio `PostgresClient` pool.
    package func clientConfiguration(applicationName: String) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socket = unixSocketPath {
            configuration = .init(unixSocketPath: socket, username: user, password: password?.value, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch tlsMode {
            case .none: tls = .disable
            case .prefer(let configuration): tls = .prefer(configuration)
            case .require(let configuration): tls = .require(configuration)
            }
            configuration = .init(host: host, port: port, username: user, password: password?.value, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    private enum TLSMode {
        case none
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)
    }

    /// What `sslmode` asks for, as libpq reads it.
    private var tlsMode: TLSMode {
        switch sslMode {
        case .disable:
            return .none
        case .allow, .prefer, .require:
            // libpq's prefer and require encrypt but do not verify the server's certificate.
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateVerification = .none
            return sslMode == .require ? .require(tlsConfiguration) : .prefer(tlsConfiguration)
        case .verifyCA, .verifyFull:
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateVerification = sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            return .require(tlsConfiguration)
        }
    }
}
