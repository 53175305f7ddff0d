//! Reading a Server-Sent Events stream as it arrives in chunks: bytes are buffered until a
//! whole line is there, so a character split across two chunks is read whole (decoding
//! each chunk on its own would turn it into two replacement characters).

/// One event of the stream: its `id:` (if any) and its `data:` lines, joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's id, for `Last-Event-ID` on reconnect.
    pub id: Option<String>,
    /// The event's data.
    pub data: String,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseReader {
    pending: Vec<u8>,
    id: Option<String>,
    data: Vec<String>,
}

impl SseReader {
    /// Takes the next chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(SseEvent {
                        id: self.id.take(),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                self.id = None;
            } else if let Some(value) = line.strip_prefix("id:") {
                self.id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("data:") {
                // One optional space after the colon belongs to the syntax, not the data.
                self.data
                    .push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            }
            // Comments (`:keep-alive`) and other fields are not hale's.
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::{SseEvent, SseReader};

    #[test]
    fn a_character_split_across_chunks_is_read_whole() {
        let stream = "id: 7\ndata: {\"reason\":\"caf\u{e9} \u{1F525}\"}\n\n".as_bytes();
        // Split inside the two-byte é and inside the four-byte emoji.
        let e = stream.iter().position(|b| *b == 0xC3).unwrap() + 1;
        let fire = stream.iter().position(|b| *b == 0xF0).unwrap() + 2;
        let mut reader = SseReader::default();
        let mut events = reader.push(&stream[..e]);
        events.extend(reader.push(&stream[e..fire]));
        events.extend(reader.push(&stream[fire..]));
        assert_eq!(
            events,
            [SseEvent {
                id: Some("7".into()),
                data: "{\"reason\":\"caf\u{e9} \u{1F525}\"}".into(),
            }]
        );
    }

    #[test]
    fn comments_are_skipped_and_multi_line_data_is_joined() {
        let mut reader = SseReader::default();
        let events = reader.push(b":keep-alive\n\ndata: a\ndata: b\n\nid: 2\r\ndata:c\r\n\r\n");
        assert_eq!(
            events,
            [
                SseEvent {
                    id: None,
                    data: "a\nb".into()
                },
                SseEvent {
                    id: Some("2".into()),
                    data: "c".into()
                },
            ]
        );
    }
}
