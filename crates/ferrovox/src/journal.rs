//! Text logs for the systemd journal.
//!
//! Under systemd, stderr is a stream to journald (`$JOURNAL_STREAM` names it), which stamps
//! every line with its own time: the daemon's timestamp would only repeat it. Each line starts
//! instead with a `<N>` syslog priority prefix (`sd-daemon(3)`), which journald turns into the
//! entry's priority, so `journalctl -p warning -u ferrovox` shows warnings and errors only.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether stderr is the journal stream systemd connected (`$JOURNAL_STREAM` is
/// `DEVICE:INODE` of that stream; a child whose stderr was redirected elsewhere inherits the
/// variable but not the stream, hence the comparison, as `systemd.exec(5)` advises).
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    is_stream(&stream.to_string_lossy(), std::io::stderr().as_fd())
}

/// Whether `fd` is the file `stream` (`DEVICE:INODE`) names.
fn is_stream(stream: &str, fd: BorrowedFd<'_>) -> bool {
    let Ok(fd) = fd.try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    stream == format!("{}:{}", meta.dev(), meta.ino())
}

/// The syslog priority journald gives a line: err (3), warning (4), info (6), debug (7).
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// The daemon's text format without timestamps and with a `<N>` priority prefix.
pub struct JournalFormat(Format<Full, ()>);

impl Default for JournalFormat {
    fn default() -> Self {
        JournalFormat(tracing_subscriber::fmt::format().without_time())
    }
}

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_carry_a_priority_and_no_timestamp() {
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(JournalFormat::default())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(member = "sip:fs1", "member down");
            tracing::info!("ferrovox ready");
        });
        let text = String::from_utf8(out.0.lock().expect("sink").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("<4> WARN "), "{}", lines[0]);
        assert!(
            lines[0].ends_with("member down member=\"sip:fs1\""),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("<6> INFO "), "{}", lines[1]);
    }

    #[test]
    fn the_stream_is_recognised_by_device_and_inode() {
        let path = std::env::temp_dir().join(format!("ferrovox-journal-{}", std::process::id()));
        let file = std::fs::File::create(&path).expect("temp file");
        let meta = file.metadata().expect("metadata");
        let other = std::fs::File::open("/dev/null").expect("/dev/null");
        let name = format!("{}:{}", meta.dev(), meta.ino());
        assert!(is_stream(&name, file.as_fd()));
        assert!(!is_stream(&name, other.as_fd()));
        assert!(!is_stream("garbage", file.as_fd()));
        let _ = std::fs::remove_file(&path);
    }
}
