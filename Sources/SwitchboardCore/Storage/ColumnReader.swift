import SQLKit

/// What a row type's initialiser reads its columns through: by name from any row (`NamedColumns`), or by position
/// from a row of the writer's own connection whose columns are the type's own, in their order (`PositionedColumns`).
/// The second searches no names and, the initialiser being generic over the reader, has each read compiled for its
/// type instead of resolved at run time; the call writer reads a row for every call it accepts, completes or cancels.
protocol ColumnReader {
    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D
}

extension ColumnReader {
    func decode<D: Decodable>(_ column: String) throws -> D {
        try decode(column: column, as: D.self)
    }

    /// A column of named values (a status, a channel) read as its text: through `Decodable`, each enum would cost a
    /// decoder of its own.
    func decodeRawValue<T: RawRepresentable>(_ column: String) throws -> T where T.RawValue == String {
        let text = try decode(column: column, as: String.self)
        guard let value = T(rawValue: text) else { throw Self.unknown(text, column, as: T.self) }
        return value
    }

    func decodeRawValue<T: RawRepresentable>(_ column: String) throws -> T? where T.RawValue == String {
        guard let text = try decode(column: column, as: String?.self) else { return nil }
        guard let value = T(rawValue: text) else { throw Self.unknown(text, column, as: T.self) }
        return value
    }

    private static func unknown<T>(_ text: String, _ column: String, as: T.Type) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "column \(column): '\(text)' is no \(T.self)"))
    }
}

struct NamedColumns: ColumnReader {
    let row: any SQLRow

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        try row.decode(column: column, as: D.self)
    }
}

/// A row type's columns, in the order its statements select them.
struct ColumnLayout: Sendable {
    let names: [String]
    fileprivate let positions: [String: Int]

    init(_ names: [String]) {
        self.names = names
        positions = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    }

    /// `row` read by position, when it is the writer's connection's and holds exactly these columns in this order.
    func positioned(_ row: any SQLRow) -> PositionedColumns? {
        guard let inline = row as? InlineSQLiteRow, inline.columns == names else { return nil }
        return PositionedColumns(row: inline, layout: self)
    }
}

struct PositionedColumns: ColumnReader {
    let row: InlineSQLiteRow
    let layout: ColumnLayout

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let index = layout.positions[column] else { return try row.decode(column: column, as: D.self) }
        return try row.decode(at: index, as: D.self)
    }
}
