import Foundation

/// A notification text with `{{name}}` placeholders, filled from a context of strings. Nothing
/// else: no logic, no escaping (notifications are plain text). A placeholder the context lacks is
/// an error, so a template that names a variable its event does not provide is found when the
/// templates are checked at start, never at the first event.
public struct MessageTemplate: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case text(String)
        case variable(String)
    }

    public let source: String
    let pieces: [Piece]

    /// Parses `source`; throws for an unclosed `{{` or a placeholder that is not a name
    /// (letters, digits and `_`).
    public init(_ source: String) throws(MessageTemplateError) {
        self.source = source
        var pieces: [Piece] = []
        var rest = Substring(source)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { pieces.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw MessageTemplateError("an unclosed {{ in \"\(source)\"")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw MessageTemplateError("{{\(name)}} is not a variable name in \"\(source)\"")
            }
            pieces.append(.variable(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        self.pieces = pieces
    }

    /// The variables the template names, in order of first use.
    public var variables: [String] {
        var seen: [String] = []
        for case .variable(let name) in pieces where !seen.contains(name) { seen.append(name) }
        return seen
    }

    public func render(_ context: [String: String]) throws(MessageTemplateError) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let text): out += text
            case .variable(let name):
                guard let value = context[name] else {
                    throw MessageTemplateError("{{\(name)}} is not a variable of this event (it has \(context.keys.sorted().joined(separator: ", ")))")
                }
                out += value
            }
        }
        return out
    }
}

public struct MessageTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
