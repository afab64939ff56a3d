//! The admin socket's input path on arbitrary bytes, split where the first byte says: the line
//! framer never yields a line longer than its cap nor one holding a newline, splitting the
//! same bytes elsewhere gives the same lines; every line is a request or gets an error
//! response with a documented code that renders as one JSON line; a request's call parses or
//! fails with a documented code, and its member reference and page size are checked without
//! panicking.
#![no_main]

use admin::framer::{Frame, LineFramer};
use admin::method::Call;
use admin::{parse_request, ErrorCode, ErrorObject, Response};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 512;

fn documented(e: &ErrorObject) {
    assert!(e.kind().is_some(), "undocumented code {}", e.code);
}

fn one_line(r: &Response) {
    let line = r.to_line();
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    let back: Response = serde_json::from_slice(&line).expect("a response reads back");
    assert_eq!(&back, r);
}

fn answer(line: &[u8]) {
    let req = match parse_request(line) {
        Ok(r) => r,
        Err(resp) => {
            documented(resp.error.as_ref().expect("an error response"));
            one_line(&resp);
            return;
        }
    };
    match Call::parse(&req.method, req.params) {
        Ok(Call::MembersList(p)) => drop(p.page_size().map_err(|e| documented(&e))),
        Ok(Call::MembersSetState(p)) => drop(p.member().map_err(|e| documented(&e))),
        Ok(Call::MembersRemove(p)) => drop(p.member().map_err(|e| documented(&e))),
        Ok(Call::CallsList(p)) => drop(p.page_size().map_err(|e| documented(&e))),
        Ok(Call::CallsTerminate(p)) => drop(p.target().map_err(|e| documented(&e))),
        Ok(Call::ParamsSet(p)) => {
            drop(admin::tune::check(&p.key, &p.value).map_err(|e| documented(&e)))
        }
        Ok(_) => {}
        Err(e) => {
            documented(&e);
            assert!(matches!(
                e.kind(),
                Some(ErrorCode::MethodNotFound | ErrorCode::InvalidParams)
            ));
            one_line(&Response::err(req.id, e));
        }
    }
}

fn frames(data: &[u8], cut: usize) -> Vec<Frame> {
    let mut f = LineFramer::new(MAX);
    let mut out = Vec::new();
    let (a, b) = data.split_at(cut.min(data.len()));
    for part in [a, b] {
        f.push(part);
        while let Some(frame) = f.next_line() {
            let stop = frame == Frame::TooLong;
            out.push(frame);
            if stop {
                return out;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let split = frames(data, usize::from(cut));
    assert_eq!(split, frames(data, data.len()), "the split changes nothing");
    for frame in split {
        if let Frame::Line(line) = frame {
            assert!(line.len() <= MAX + 1 && !line.contains(&b'\n'));
            answer(&line);
        }
    }
});
