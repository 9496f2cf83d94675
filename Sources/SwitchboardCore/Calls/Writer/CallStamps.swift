import Foundation
import NIOConcurrencyHelpers


/// Creation times that strictly increase, even for calls of one batch: the queue is served oldest first by
/// `created_at`, so arrival order must survive the batch. Stored with microsecond precision on both databases.
final class CallStamps: Sendable {
    private let last = NIOLockedValueBox(Date.distantPast)

    func next() -> Date {
        last.withLockedValue { last in
            let now = Date()
            last = now > last.addingTimeInterval(0.000_001) ? now : last.addingTimeInterval(0.000_001)
            return last
        }
    }
}
