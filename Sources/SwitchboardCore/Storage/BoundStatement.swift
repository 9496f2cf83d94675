import SQLKit

/// A statement of the call writer's hot path whose text is known in advance (table and column names of ours, quoted
/// once when the text is built) with its values bound in their places. SQLKit's builders quote and escape every name
/// again each time they serialize, which cost about a tenth of the server's time under a load of calls.
struct BoundStatement: SQLExpression {
    private var text: [String] = []
    private var values: [any Encodable & Sendable] = []
    private var pending = ""

    init(_ text: String = "") { pending = text }

    /// A name in double quotes (both databases read it so); for the names of our own schema, never user input.
    static func quoted(_ name: String) -> String { "\"\(name)\"" }

    mutating func append(_ text: String) { pending += text }

    mutating func bind(_ value: any Encodable & Sendable) {
        text.append(pending)
        values.append(value)
        pending = ""
    }

    /// `(v1, v2, …)`
    mutating func bindRow(_ row: [any Encodable & Sendable]) {
        append("(")
        for (index, value) in row.enumerated() {
            if index > 0 { append(", ") }
            bind(value)
        }
        append(")")
    }

    func serialize(to serializer: inout SQLSerializer) {
        for (piece, value) in zip(text, values) {
            serializer.write(piece)
            serializer.write(bind: value)
        }
        serializer.write(pending)
    }

    /// `INSERT INTO table ("client_id", columns…) VALUES (…), (…)`: rows of several tenants in one statement.
    static func insert(into table: String, columns: [String], rows: [(clientId: String, values: [any Encodable & Sendable])])
        -> BoundStatement {
        var statement = BoundStatement("INSERT INTO \(quoted(table)) (\((["client_id"] + columns).map(quoted).joined(separator: ", "))) VALUES ")
        for (index, row) in rows.enumerated() {
            precondition(row.values.count == columns.count, "a row of \(table) does not match its columns")
            if index > 0 { statement.append(", ") }
            statement.bindRow([row.clientId] + row.values)
        }
        return statement
    }
}
