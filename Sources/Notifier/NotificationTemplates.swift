import Foundation
import PaystreamDomain
import Yams

/// The notification texts, per event type, recipient type and locale: data an operator edits
/// (`Config/notification-templates.yaml`), read and checked in full when the notifier starts.
///
///     payment.captured:
///       payer:
///         zh-CN: {title: "支付成功", body: "您的订单 {{order_id}} 已支付 {{amount}}"}
///         en: {title: "Payment successful", body: "Your order {{order_id}} has been paid: {{amount}}"}
///
/// Every (event, recipient) of `NotificationRecipients.table` needs both locales, each using only
/// the variables that event provides; an event, recipient or locale the notifier does not know is
/// refused too (a misspelt key would otherwise be a template never used).
public struct NotificationTemplates: Sendable {
    public static let locales = NotificationLocale.all

    public struct Text: Sendable {
        public let title: MessageTemplate
        public let body: MessageTemplate
    }

    /// event type → recipient type → locale → text.
    let texts: [String: [String: [String: Text]]]

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and checks a templates file (YAML).
    public static func load(path: String) throws -> NotificationTemplates {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Invalid(description: "cannot read the notification templates \(path)")
        }
        do { return try parse(text) } catch let error as Invalid {
            throw Invalid(description: "notification templates \(path): \(error.description)")
        }
    }

    public static func parse(_ yaml: String) throws -> NotificationTemplates {
        let root: Any?
        do { root = try Yams.load(yaml: yaml) } catch { throw Invalid(description: "not YAML: \(error)") }
        guard let events = root as? [String: Any] else { throw Invalid(description: "the top level must map event types to recipients") }
        let wanted = Dictionary(grouping: NotificationRecipients.table, by: \.event)
        var texts: [String: [String: [String: Text]]] = [:]
        for (event, value) in events.sorted(by: { $0.key < $1.key }) {
            guard let entries = wanted[event] else {
                throw Invalid(description: "\(event): no such notified event (known: \(wanted.keys.sorted().joined(separator: ", ")))")
            }
            guard let recipients = value as? [String: Any] else { throw Invalid(description: "\(event): must map recipient types to locales") }
            for (recipient, value) in recipients.sorted(by: { $0.key < $1.key }) {
                guard let entry = entries.first(where: { $0.recipient == recipient }) else {
                    throw Invalid(description: "\(event).\(recipient): this recipient is not notified of \(event) (it is for "
                        + entries.map(\.recipient).joined(separator: ", ") + ")")
                }
                guard let locales = value as? [String: Any] else { throw Invalid(description: "\(event).\(recipient): must map locales to texts") }
                for (locale, value) in locales.sorted(by: { $0.key < $1.key }) {
                    let path = "\(event).\(recipient).\(locale)"
                    guard Self.locales.contains(locale) else {
                        throw Invalid(description: "\(path): unknown locale (known: \(Self.locales.joined(separator: ", ")))")
                    }
                    guard let fields = value as? [String: Any], let title = fields["title"] as? String, let body = fields["body"] as? String else {
                        throw Invalid(description: "\(path): needs a title and a body, both text")
                    }
                    if let extra = fields.keys.sorted().first(where: { $0 != "title" && $0 != "body" }) {
                        throw Invalid(description: "\(path).\(extra): unknown key (a text has a title and a body)")
                    }
                    let text: Text
                    do { text = Text(title: try MessageTemplate(title), body: try MessageTemplate(body)) } catch {
                        throw Invalid(description: "\(path): \(error.description)")
                    }
                    let sample = Dictionary(uniqueKeysWithValues: entry.variables.map { ($0, "x") })
                    for (part, template) in [("title", text.title), ("body", text.body)] {
                        do { _ = try template.render(sample) } catch { throw Invalid(description: "\(path).\(part): \(error.description)") }
                    }
                    texts[event, default: [:]][recipient, default: [:]][locale] = text
                }
            }
        }
        for entry in NotificationRecipients.table {
            for locale in Self.locales where texts[entry.event]?[entry.recipient]?[locale] == nil {
                throw Invalid(description: "\(entry.event).\(entry.recipient).\(locale): missing (every notified event needs "
                    + "\(Self.locales.joined(separator: " and ")) for each recipient)")
            }
        }
        return NotificationTemplates(texts: texts)
    }

    /// One entry's title and body in `locale`, with the given variables.
    public func render(event: String, recipient: String, locale: String, variables: [String: String]) throws -> (title: String, body: String) {
        guard let text = texts[event]?[recipient]?[locale] else { throw Invalid(description: "no template for \(event).\(recipient).\(locale)") }
        return (try text.title.render(variables), try text.body.render(variables))
    }

    /// The notice's title and body in `locale`. The set was checked when loaded, so this only
    /// fails for a notice outside the recipients table (a bug).
    func render(_ notice: Notice, locale: String) throws -> (title: String, body: String) {
        try render(event: notice.eventType, recipient: notice.recipientType, locale: locale, variables: notice.variables)
    }
}
