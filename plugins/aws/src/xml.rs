//! Reading the query APIs' XML answers: children by local name (the namespaces differ per
//! service and are of no help), the text of a child, the entries of a list (`item` in EC2,
//! `member` elsewhere), and the error code and message of a failed request.

use roxmltree::{Document, Node};

/// Parses `text`, naming `what` (the action) in the error.
pub fn parse<'a>(text: &'a str, what: &str) -> Result<Document<'a>, String> {
    Document::parse(text).map_err(|e| format!("{what}: the answer is not XML: {e}"))
}

/// The first child element of `node` called `name`.
pub fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The text of the child `name`, trimmed; `None` when absent or empty.
pub fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The entries (`item` or `member` elements) of the list `name` under `node`.
pub fn entries<'a, 'i: 'a>(node: Node<'a, 'i>, name: &str) -> impl Iterator<Item = Node<'a, 'i>> {
    child(node, name)
        .into_iter()
        .flat_map(|list| list.children())
        .filter(|c| c.is_element() && matches!(c.tag_name().name(), "item" | "member"))
}

/// Code and message of an error answer: EC2's `<Response><Errors><Error>` and the query
/// APIs' `<ErrorResponse><Error>`.
pub fn error(body: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let doc = Document::parse(text).ok()?;
    let error = doc.descendants().find(|n| n.has_tag_name("Error"))?;
    let code = text_of(error, "Code")?;
    let message = text_of(error, "Message").unwrap_or_default();
    Some((code, message))
}

fn text_of(node: Node<'_, '_>, name: &str) -> Option<String> {
    text(node, name).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_both_shapes() {
        let ec2 = br#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>"#;
        assert_eq!(
            error(ec2),
            Some((
                "RequestLimitExceeded".into(),
                "Request limit exceeded.".into()
            ))
        );
        let sts = br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>y</RequestId></ErrorResponse>"#;
        assert_eq!(error(sts).map(|e| e.0), Some("ExpiredToken".into()));
        assert_eq!(error(b"<html>502</html>"), None);
        assert_eq!(error(b"not xml"), None);
    }
}
