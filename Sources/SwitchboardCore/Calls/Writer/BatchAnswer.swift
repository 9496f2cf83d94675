import Foundation
import NIOConcurrencyHelpers


/// A PostgreSQL batch's answers: sent once both its results are known and its commit is confirmed, in whichever
/// order those two arrive.
final class BatchAnswer: Sendable {
    private struct State {
        var results: [Result<ChangeAnswer, any Error>]?
        var commit: Result<Void, any Error>?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let continuations: [CheckedContinuation<ChangeAnswer, any Error>]
    private let book: LoadBook
    private let clientIds: Set<String>
    private let state = NIOLockedValueBox(State())

    init(_ continuations: [CheckedContinuation<ChangeAnswer, any Error>], book: LoadBook, clientIds: Set<String>) {
        self.continuations = continuations
        self.book = book
        self.clientIds = clientIds
    }

    func written(_ results: [Result<ChangeAnswer, any Error>]) {
        answerIfReady(state.withLockedValue { state in
            state.results = results
            return state.commit.map { ($0, results) }
        })
    }

    @Sendable func committed(_ error: (any Error)?) {
        let commit: Result<Void, any Error> = error.map { .failure($0) } ?? .success(())
        let (ready, waiters) = state.withLockedValue { state in
            state.commit = commit
            defer { state.waiters = [] }
            return (state.results.map { (commit, $0) }, state.waiters)
        }
        for waiter in waiters { waiter.resume() }
        answerIfReady(ready)
    }

    var isSettled: Bool { state.withLockedValue { $0.commit != nil } }

    /// Returns once the batch's commit is confirmed (or failed).
    func settled() async {
        await withCheckedContinuation { waiter in
            let done = state.withLockedValue { state in
                if state.commit != nil { return true }
                state.waiters.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    private func answerIfReady(_ ready: (Result<Void, any Error>, [Result<ChangeAnswer, any Error>])?) {
        guard let (commit, results) = ready else { return }
        switch commit {
        case .success:
            for (continuation, result) in zip(continuations, results) { continuation.resume(with: result) }
        case .failure(let error):
            // The statement ran but its commit failed: nothing of it holds, and the books drop what they were told.
            for clientId in clientIds { book.invalidateHere(clientId) }
            for continuation in continuations { continuation.resume(throwing: error) }
        }
    }
}
