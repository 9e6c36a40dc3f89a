import Foundation
import Mustache

/// The Bahasa Indonesia message templates, one file per template in a folder operators edit
/// (`config/notifications/`), checked when the worker starts.
///
/// A file is a small header, a line `---`, and the body (Mustache: `{{nama}}` inserts a value,
/// `{{#kompeten}}…{{/kompeten}}` shows a part only when the value is true, `{{^…}}` when false):
///
/// ```
/// subject: Jadwal pelatihan {{program}}
/// urgent: no
/// ---
/// Yth. {{nama}}, jadwal pelatihan Anda: …
/// ```
///
/// The subject is used by e-mail; WhatsApp and SMS send the body. `urgent: yes` lets a message
/// through quiet hours. A channel may have its own wording in `<name>.<channel>.txt`
/// (`whatsapp`, `sms`, `email`), e.g. a shorter `lulus_seleksi.sms.txt`; it has the same fields.
/// Every template the worker sends for an event must exist and may name only the fields that
/// event provides (``NotificationTemplates/fields``): a missing template,
/// an unknown field or a Mustache syntax error stops start-up with the file and the name.
/// Files for other names are free templates for `notification.requested`, whose sender
/// supplies the values.
public struct NotificationTemplates: Sendable {
    public struct Template: Sendable {
        public let name: String
        public let subject: String
        public let body: String
        public let urgent: Bool
        /// The names the template uses.
        public let fields: Set<String>
        fileprivate let compiledSubject: MustacheTemplate
        fileprivate let compiledBody: MustacheTemplate
    }

    /// The fields each event's template may use, from its value type (``EventTemplates``);
    /// `true`/`false` values work as sections.
    public static let fields: [String: Set<String>] = Dictionary(
        uniqueKeysWithValues: EventTemplates.all.map { ($0.template, $0.fieldNames) })

    public let templates: [String: Template]

    /// Loads and checks every `*.txt` file of `directory`.
    /// - Throws: ``NotificationTemplateError`` naming the file and the problem.
    public init(directory: String) throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard !files.isEmpty else {
            throw NotificationTemplateError(file: directory, problem: "no template files in the folder")
        }
        var templates: [String: Template] = [:]
        for file in files.sorted() where file.hasSuffix(".txt") {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(file).path
            guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }) else {
                throw NotificationTemplateError(file: path, problem: "not readable as UTF-8")
            }
            let name = String(file.dropLast(4))
            templates[name] = try Self.parse(name: name, text: text, file: path)
        }
        try self.init(templates: templates, origin: directory)
    }

    /// Templates from text (tests).
    public init(texts: [String: String]) throws {
        var templates: [String: Template] = [:]
        for (name, text) in texts { templates[name] = try Self.parse(name: name, text: text, file: name + ".txt") }
        try self.init(templates: templates, origin: "the given templates")
    }

    private init(templates: [String: Template], origin: String) throws {
        for name in Self.fields.keys.sorted() where templates[name] == nil {
            throw NotificationTemplateError(file: "\(origin)/\(name).txt", problem: "missing (the worker sends it)")
        }
        for (name, template) in templates.sorted(by: { $0.key < $1.key }) {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2 && !Self.channels.contains(parts[1]) {
                throw NotificationTemplateError(
                    file: "\(origin)/\(name).txt", problem: "`\(parts[1])` is not a channel (whatsapp, sms, email)")
            }
            guard let allowed = Self.fields[parts[0]] else { continue }  // a free template
            let unknown = template.fields.subtracting(allowed)
            guard unknown.isEmpty else {
                throw NotificationTemplateError(
                    file: "\(origin)/\(name).txt",
                    problem: "names fields its event does not provide: \(unknown.sorted().joined(separator: ", ")) "
                        + "(available: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        self.templates = templates
    }

    static let channels: Set<String> = ["whatsapp", "sms", "email"]

    /// Renders `name` (its `channel` variant when there is one) with `values`;
    /// `"true"`/`"false"` become booleans for sections.
    /// - Throws: ``NotificationTemplateError`` when the template is unknown or a value it
    ///   names is missing.
    public func render(_ name: String, channel: String? = nil, _ values: [String: String]) throws -> (
        subject: String, text: String
    ) {
        guard let template = channel.flatMap({ templates["\(name).\($0.lowercased())"] }) ?? templates[name] else {
            throw NotificationTemplateError(file: name + ".txt", problem: "no such template")
        }
        let missing = template.fields.subtracting(values.keys)
        guard missing.isEmpty else {
            throw NotificationTemplateError(
                file: name + ".txt", problem: "no value for \(missing.sorted().joined(separator: ", "))")
        }
        var context: [String: Any] = [:]
        for (key, value) in values {
            switch value {
            case "true": context[key] = true
            case "false": context[key] = false
            default: context[key] = value
            }
        }
        let subject = Self.trimmed(template.compiledSubject.render(context))
        let text = Self.trimmed(template.compiledBody.render(context))
        return (subject, text)
    }

    /// `text` without whitespace and newlines at either end: the scalars with Unicode's
    /// White_Space property and U+200B (zero width space), the set of Foundation's
    /// `.whitespacesAndNewlines` here, without its walk over UTF-16 (which was 5 % of the
    /// notification role's CPU).
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace || scalar == "\u{200B}" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(scalars[first...last])
    }

    static func parse(name: String, text: String, file: String) throws -> Template {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        guard let separator = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "---" }) else {
            throw NotificationTemplateError(file: file, problem: "no `---` line between the header and the body")
        }
        var subject = ""
        var urgent = false
        for line in lines[..<separator] where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else {
                throw NotificationTemplateError(file: file, problem: "header line `\(line)` is not `key: value`")
            }
            switch parts[0].lowercased() {
            case "subject": subject = parts[1]
            case "urgent":
                guard
                    let value = ["yes": true, "ya": true, "true": true, "no": false, "tidak": false, "false": false][
                        parts[1].lowercased()]
                else {
                    throw NotificationTemplateError(file: file, problem: "urgent must be yes or no, not `\(parts[1])`")
                }
                urgent = value
            default:
                throw NotificationTemplateError(file: file, problem: "unknown header `\(parts[0])` (subject, urgent)")
            }
        }
        guard !subject.isEmpty else { throw NotificationTemplateError(file: file, problem: "no subject") }
        let body = lines[(separator + 1)...].joined(separator: "\n")
        guard !body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw NotificationTemplateError(file: file, problem: "empty body")
        }
        do {
            return Template(
                name: name, subject: subject, body: body, urgent: urgent, fields: placeholders(in: subject + "\n" + body),
                compiledSubject: try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + subject),
                compiledBody: try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + body))
        } catch {
            throw NotificationTemplateError(file: file, problem: "Mustache syntax: \(error)")
        }
    }

    /// The names used by `{{x}}`, `{{{x}}}`, `{{&x}}`, `{{#x}}`, `{{^x}}` and `{{/x}}`.
    static func placeholders(in text: String) -> Set<String> {
        var names: Set<String> = []
        var rest = text[...]
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            var tag = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            if tag.hasPrefix("!") || tag.hasPrefix("%") || tag.hasPrefix("=") || tag.hasPrefix(">") { continue }
            tag = tag.trimmingCharacters(in: CharacterSet(charactersIn: "{}#^/&")).trimmingCharacters(in: .whitespaces)
            if !tag.isEmpty && tag != "." { names.insert(tag) }
        }
        return names
    }
}

/// A template that cannot be used, with the file and what is wrong.
public struct NotificationTemplateError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public var description: String { "notification template \(file): \(problem)" }
}
