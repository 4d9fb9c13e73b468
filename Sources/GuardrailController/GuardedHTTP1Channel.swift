import Foundation
import GuardrailCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// The limits the controller's HTTP server puts on its clients, so that no client (or ten thousand
/// slow ones) can hold its descriptors or its connections for long:
///
/// - a request's head must arrive within `headerReadTimeout` of its first byte (or of connecting);
/// - a connection with no request for `idleTimeout` is closed (Hummingbird's idle timeout);
/// - at most `maxConnections` connections are open at once; more wait in the kernel's accept queue,
///   where they hold none of the controller's descriptors.
public struct HTTPClientLimits: Sendable, Equatable {
    public var headerReadTimeout: GuardrailDuration
    public var idleTimeout: GuardrailDuration
    public var maxConnections: Int

    public init(
        headerReadTimeout: GuardrailDuration = GuardrailCore.Environment.Controller.defaultHeaderReadTimeout,
        idleTimeout: GuardrailDuration = GuardrailCore.Environment.Controller.defaultIdleTimeout,
        maxConnections: Int = GuardrailCore.Environment.Controller.defaultMaxConnections
    ) {
        self.headerReadTimeout = headerReadTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// Descriptors kept for the reconcile loop whatever the clients do: Postgres connections, the
    /// LISTEN connection, manifest files, pg_dump's pipes, Prometheus and ruler requests.
    public static let descriptorsReservedForTheLoop = 128

    /// `maxConnections` lowered, when needed, so that the connections and the reserve fit under
    /// `descriptorLimit` (the process's soft RLIMIT_NOFILE); never below 1.
    public func fitted(toDescriptorLimit descriptorLimit: Int) -> HTTPClientLimits {
        var limits = self
        limits.maxConnections = max(1, min(maxConnections, descriptorLimit - Self.descriptorsReservedForTheLoop))
        return limits
    }

    /// The soft limit on open descriptors of this process.
    public static func descriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        // RLIM_INFINITY is the largest value; clamping keeps it a (very large) Int.
        return Int(clamping: limit.rlim_cur)
    }

    func timeAmount(_ d: GuardrailDuration) -> TimeAmount { .milliseconds(d.milliseconds) }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with `limits`' header-read and idle timeouts.
    public static func http1(limits: HTTPClientLimits) -> HTTPServerBuilder {
        .init { responder in
            GuardedHTTP1Channel(
                responder: responder, headerReadTimeout: limits.timeAmount(limits.headerReadTimeout),
                idleTimeout: limits.timeAmount(limits.idleTimeout))
        }
    }
}

/// Hummingbird's HTTP/1 channel with a deadline on reading each request's head. Hummingbird's own
/// idle timeout counts from the last decoded request part, so a client that sends a head one byte at
/// a time never produces one and is only cut at the idle timeout; this cuts it at the header timeout.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let headerReadTimeout: TimeAmount
    let idleTimeout: TimeAmount

    var http1: HTTP1Channel { HTTP1Channel(responder: responder, configuration: .init(idleTimeout: idleTimeout)) }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture { () -> NIOLoopBoundBox<HeadDeadline> in
            let deadline = NIOLoopBoundBox(HeadDeadline(timeout: headerReadTimeout), eventLoop: channel.eventLoop)
            // First in the pipeline: it sees a request's first byte, before the HTTP decoder has a part to show.
            try channel.pipeline.syncOperations.addHandler(RequestStartHandler(deadline: deadline), position: .first)
            return deadline
        }.flatMap { deadline in
            HTTP1Channel(
                responder: responder,
                configuration: .init(additionalChannelHandlers: [RequestHeadHandler(deadline: deadline)], idleTimeout: idleTimeout)
            )
            .setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// One connection's head deadline. Lives in a `NIOLoopBoundBox`: only its channel's event loop
/// touches it, and the timer it schedules runs there too.
struct HeadDeadline {
    enum State { case waitingForRequest, readingHead, inRequest }
    let timeout: TimeAmount
    var state = State.waitingForRequest
    var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }
}

extension NIOLoopBoundBox where Value == HeadDeadline {
    /// A request (or the connection) starts: its head must be complete within the timeout.
    func start(_ channel: any Channel) {
        guard value.state == .waitingForRequest else { return }
        value.state = .readingHead
        value.timer = channel.eventLoop.scheduleTask(in: value.timeout) { channel.close(promise: nil) }
    }

    func headArrived() {
        value.timer?.cancel()
        value.timer = nil
        value.state = .inRequest
    }

    func responseEnded() {
        if value.state == .inRequest { value.state = .waitingForRequest }
    }

    func cancel() {
        value.timer?.cancel()
        value.timer = nil
    }
}

/// Starts the head deadline when a connection opens and at the first byte of each later request.
final class RequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let deadline: NIOLoopBoundBox<HeadDeadline>

    init(deadline: NIOLoopBoundBox<HeadDeadline>) { self.deadline = deadline }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { deadline.start(context.channel) }
    }

    func channelActive(context: ChannelHandlerContext) {
        deadline.start(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadline.start(context.channel)
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline.cancel()
    }
}

/// Stops the head deadline when the decoder has a whole head, and rearms it after each response.
final class RequestHeadHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let deadline: NIOLoopBoundBox<HeadDeadline>

    init(deadline: NIOLoopBoundBox<HeadDeadline>) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { deadline.headArrived() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { deadline.responseEnded() }
        context.write(data, promise: promise)
    }
}
