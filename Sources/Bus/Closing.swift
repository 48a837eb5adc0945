/// Something that must be closed before the process exits (bus clients stop their threads there).
public protocol AsyncClosable: Sendable {
    func close() async
}

extension MessageBus: AsyncClosable {}
extension BusProducer: AsyncClosable {}
extension BusConsumer: AsyncClosable {}

/// Runs `body` with `resource` and closes it afterwards, on success and on error alike.
///
/// A command must not return while a Kafka client is still being torn down on another thread:
/// the process's exit handlers (OpenSSL's among them) would run under it and crash.
public func using<Resource: AsyncClosable, Result>(_ resource: Resource, _ body: (Resource) async throws -> Result)
    async throws -> Result
{
    let result: Result
    do {
        result = try await body(resource)
    } catch {
        await resource.close()
        throw error
    }
    await resource.close()
    return result
}
