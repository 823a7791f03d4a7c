//! Text to [`Expr`]: a tokenizer and a recursive-descent parser for Traefik's v3 rule grammar.
//!
//! ```text
//! or      = and { "||" and }
//! and     = unary { "&&" unary }
//! unary   = "!" unary | primary
//! primary = "(" or ")" | NAME "(" [ STRING { "," STRING } [ "," ] ] ")"
//! STRING  = `raw` | "interpreted"
//! ```
//!
//! Whitespace, including newlines, may stand between any two tokens.

use crate::error::RuleError;
use crate::expr::Expr;
use crate::go_string;
use crate::matcher::{Kind, Matcher};

/// How deeply parentheses and negations may nest before the parser refuses the rule.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(String),
    Str(String),
    Open,
    Close,
    Comma,
    And,
    Or,
    Not,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(name) => format!("`{name}`"),
            Token::Str(_) => "a string".to_owned(),
            Token::Open => "'('".to_owned(),
            Token::Close => "')'".to_owned(),
            Token::Comma => "','".to_owned(),
            Token::And => "'&&'".to_owned(),
            Token::Or => "'||'".to_owned(),
            Token::Not => "'!'".to_owned(),
            Token::End => "end of rule".to_owned(),
        }
    }
}

/// One matcher call as written: its name, where the name starts, and its string arguments with the
/// column each starts at (all columns 1-based, in characters).
pub(crate) struct Call<'a> {
    pub(crate) name: &'a str,
    pub(crate) column: usize,
    pub(crate) args: &'a [(String, usize)],
}

/// The matchers of one rule language (HTTP or TCP): the grammar is shared, the matchers differ.
pub(crate) trait Matchers {
    /// A compiled matcher.
    type Matcher;
    /// Checks a matcher name (at `column`) as soon as it is read, before its arguments.
    fn check_name(&self, name: &str, column: usize) -> Result<(), RuleError>;
    /// Builds a matcher from a call whose name passed [`Matchers::check_name`].
    fn build(&self, call: &Call<'_>) -> Result<Self::Matcher, RuleError>;
}

/// Parses HTTP rule text into an expression.
pub(crate) fn parse(src: &str) -> Result<Expr, RuleError> {
    parse_with(src, &HttpMatchers)
}

/// Parses rule text with `matchers` checking and building each call.
pub(crate) fn parse_with<L: Matchers>(src: &str, matchers: &L) -> Result<Expr<L::Matcher>, RuleError> {
    let mut parser = Parser {
        src,
        tokens: tokenize(src)?,
        at: 0,
        depth: 0,
        matchers,
    };
    let expr = parser.or()?;
    match parser.peek() {
        Token::End => Ok(expr),
        other => Err(parser.syntax("'&&', '||' or end of rule", other.describe())),
    }
}

/// The 1-based character column of a byte offset.
fn column(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].chars().count() + 1
}

fn tokenize(src: &str) -> Result<Vec<(Token, usize)>, RuleError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        let (token, len) = next_token(src, i)?;
        tokens.push((token, i));
        i += len;
    }
    tokens.push((Token::End, src.len()));
    Ok(tokens)
}

/// The token starting at byte `start` (not whitespace), and its length in bytes.
fn next_token(src: &str, start: usize) -> Result<(Token, usize), RuleError> {
    let bytes = src.as_bytes();
    match bytes[start] {
        b'(' => Ok((Token::Open, 1)),
        b')' => Ok((Token::Close, 1)),
        b',' => Ok((Token::Comma, 1)),
        b'!' => Ok((Token::Not, 1)),
        b'&' | b'|' => operator(src, start),
        b'`' => raw_string(src, start),
        b'"' => interpreted_string(src, start),
        b if b.is_ascii_alphabetic() || b == b'_' => Ok(name(src, start)),
        _ => {
            let c = src[start..].chars().next().unwrap_or_default();
            Err(RuleError::Syntax {
                column: column(src, start),
                expected: "a matcher, '(' or '!'",
                found: format!("{c:?}"),
            })
        }
    }
}

/// `&&` or `||` at `start`; a single `&` or `|` is an error.
fn operator(src: &str, start: usize) -> Result<(Token, usize), RuleError> {
    let bytes = src.as_bytes();
    let op = bytes[start];
    if bytes.get(start + 1) == Some(&op) {
        let token = if op == b'&' { Token::And } else { Token::Or };
        return Ok((token, 2));
    }
    Err(RuleError::Syntax {
        column: column(src, start),
        expected: if op == b'&' { "'&&'" } else { "'||'" },
        found: format!("'{}'", op as char),
    })
}

/// The backquoted literal at `start`.
fn raw_string(src: &str, start: usize) -> Result<(Token, usize), RuleError> {
    let end = src[start + 1..].find('`').ok_or(RuleError::Literal {
        column: column(src, start),
        reason: "string is not terminated",
    })?;
    let body = &src[start + 1..start + 1 + end];
    Ok((Token::Str(go_string::raw(body)), end + 2))
}

/// The double-quoted literal at `start`, its escapes decoded.
fn interpreted_string(src: &str, start: usize) -> Result<(Token, usize), RuleError> {
    let end = closing_quote(&src.as_bytes()[start + 1..]).ok_or(RuleError::Literal {
        column: column(src, start),
        reason: "string is not terminated",
    })?;
    let body = &src[start + 1..start + 1 + end];
    let value = go_string::interpreted(body).map_err(|(at, reason)| RuleError::Literal {
        column: column(src, start + 1 + at),
        reason,
    })?;
    Ok((Token::Str(value), end + 2))
}

/// The matcher name at `start`: ASCII letters, digits and underscores.
fn name(src: &str, start: usize) -> (Token, usize) {
    let bytes = src.as_bytes();
    let len = bytes[start..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .unwrap_or(bytes.len() - start);
    (Token::Name(src[start..start + len].to_owned()), len)
}

/// The index of the `"` closing an interpreted literal, skipping escaped characters; `None` if the
/// line or the input ends first (Go literals cannot span lines).
fn closing_quote(body: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => return Some(i),
            b'\\' => i += 2,
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

struct Parser<'s, L> {
    src: &'s str,
    tokens: Vec<(Token, usize)>,
    at: usize,
    depth: usize,
    matchers: &'s L,
}

impl<L: Matchers> Parser<'_, L> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn offset(&self) -> usize {
        self.tokens[self.at].1
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.at].0.clone();
        if token != Token::End {
            self.at += 1;
        }
        token
    }

    fn syntax(&self, expected: &'static str, found: String) -> RuleError {
        RuleError::Syntax {
            column: column(self.src, self.offset()),
            expected,
            found,
        }
    }

    fn expect(&mut self, token: Token, expected: &'static str) -> Result<(), RuleError> {
        if *self.peek() == token {
            self.bump();
            Ok(())
        } else {
            Err(self.syntax(expected, self.peek().describe()))
        }
    }

    fn descend(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(RuleError::TooDeep {
                column: column(self.src, self.offset()),
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr<L::Matcher>, RuleError> {
        let mut expr = self.and()?;
        while *self.peek() == Token::Or {
            self.bump();
            expr = expr.or(self.and()?);
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr<L::Matcher>, RuleError> {
        let mut expr = self.unary()?;
        while *self.peek() == Token::And {
            self.bump();
            expr = expr.and(self.unary()?);
        }
        Ok(expr)
    }

    fn unary(&mut self) -> Result<Expr<L::Matcher>, RuleError> {
        self.descend()?;
        let expr = match self.peek() {
            Token::Not => {
                self.bump();
                Ok(!self.unary()?)
            }
            Token::Open => {
                self.bump();
                let inner = self.or()?;
                self.expect(Token::Close, "')'")?;
                Ok(inner)
            }
            Token::Name(_) => self.call(),
            other => Err(self.syntax("a matcher, '(' or '!'", other.describe())),
        };
        self.depth -= 1;
        expr
    }

    fn call(&mut self) -> Result<Expr<L::Matcher>, RuleError> {
        let name_offset = self.offset();
        let Token::Name(name) = self.bump() else {
            unreachable!("call() is only entered on a name token")
        };
        self.matchers.check_name(&name, column(self.src, name_offset))?;
        self.expect(Token::Open, "'('")?;
        let args: Vec<(String, usize)> = self
            .arguments()?
            .into_iter()
            .map(|(value, offset)| (value, column(self.src, offset)))
            .collect();
        let call = Call {
            name: &name,
            column: column(self.src, name_offset),
            args: &args,
        };
        self.matchers.build(&call).map(Expr::Matcher)
    }

    /// A call's string arguments with their offsets, up to and including its `)`; a trailing comma is
    /// allowed.
    fn arguments(&mut self) -> Result<Vec<(String, usize)>, RuleError> {
        let mut args: Vec<(String, usize)> = Vec::new();
        loop {
            match self.peek() {
                Token::Close => break,
                Token::Str(_) => {
                    let offset = self.offset();
                    let Token::Str(value) = self.bump() else {
                        unreachable!("peeked a string")
                    };
                    args.push((value, offset));
                    match self.peek() {
                        Token::Comma => {
                            self.bump();
                        }
                        Token::Close => break,
                        other => return Err(self.syntax("',' or ')'", other.describe())),
                    }
                }
                other => return Err(self.syntax("a string or ')'", other.describe())),
            }
        }
        self.bump();
        Ok(args)
    }
}

/// The HTTP matchers.
struct HttpMatchers;

impl Matchers for HttpMatchers {
    type Matcher = Matcher;

    fn check_name(&self, name: &str, column: usize) -> Result<(), RuleError> {
        match Kind::lookup(name) {
            Some(_) => Ok(()),
            None => Err(RuleError::UnknownMatcher {
                column,
                suggestion: Kind::suggest(name),
                name: name.to_owned(),
            }),
        }
    }

    fn build(&self, call: &Call<'_>) -> Result<Matcher, RuleError> {
        http_matcher(call)
    }
}

/// An HTTP matcher from its call, checked for the number of its arguments and their values.
fn http_matcher(call: &Call<'_>) -> Result<Matcher, RuleError> {
    let kind = Kind::lookup(call.name).ok_or_else(|| RuleError::UnknownMatcher {
        column: call.column,
        suggestion: Kind::suggest(call.name),
        name: call.name.to_owned(),
    })?;
    let (min, max, expected) = kind.arity();
    if call.args.len() < min || call.args.len() > max {
        return Err(RuleError::Arity {
            column: call.column,
            matcher: kind.name(),
            expected,
            got: call.args.len(),
        });
    }
    let values: Vec<&str> = call.args.iter().map(|(value, _)| value.as_str()).collect();
    Matcher::build(kind, &values).map_err(|(index, reason)| RuleError::Argument {
        column: call.args[index].1,
        matcher: kind.name(),
        index: index + 1,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    #[test]
    fn precedence_like_go() {
        let e = parse("Host(`a`) || Host(`b`) && Path(`/x`)").unwrap();
        assert_eq!(e.to_string(), "Host(`a`) || Host(`b`) && Path(`/x`)");
        assert!(matches!(&e, Expr::Or(v) if matches!(v[1], Expr::And(_))));
        let e = parse("(Host(`a`) || Host(`b`)) && !Path(`/x`)").unwrap();
        assert_eq!(e.to_string(), "(Host(`a`) || Host(`b`)) && !Path(`/x`)");
        let e = parse("!(Host(`a`) && Path(`/b`))").unwrap();
        assert_eq!(e.to_string(), "!(Host(`a`) && Path(`/b`))");
    }

    #[test]
    fn literals_and_whitespace() {
        let e = parse("Host(\"a.com\")\n  &&\tPathRegexp(\"^/v\\\\d+\",)").unwrap();
        assert_eq!(e.to_string(), r"Host(`a.com`) && PathRegexp(`^/v\d+`)");
    }

    #[test]
    fn errors_name_column_and_expectation() {
        assert_eq!(
            err("Host(`a`) && (Path(`/b`)"),
            "expected ')' at column 25, found end of rule"
        );
        assert_eq!(err("Host(`a`) & Path(`/b`)"), "expected '&&' at column 11, found '&'");
        assert_eq!(err("Host(`a` `b`)"), "expected ',' or ')' at column 10, found a string");
        assert_eq!(
            err("Host(`a`) Path(`/`)"),
            "expected '&&', '||' or end of rule at column 11, found `Path`"
        );
        assert_eq!(
            err("Host(`a"),
            "invalid string literal at column 6: string is not terminated"
        );
        assert_eq!(
            err("Host(\"a\\qb\")"),
            "invalid string literal at column 8: unknown escape sequence"
        );
        assert_eq!(err(""), "expected a matcher, '(' or '!' at column 1, found end of rule");
        assert_eq!(
            err("Host(`é`) || $"),
            "expected a matcher, '(' or '!' at column 14, found '$'"
        );
        assert_eq!(err("Host"), "expected '(' at column 5, found end of rule");
        assert_eq!(err("Host(a)"), "expected a string or ')' at column 6, found `a`");
    }

    #[test]
    fn errors_for_matchers_and_arguments() {
        let unknown = err("PathPrefix(`/`) && pathPrefix(`/a`)");
        assert!(
            unknown.starts_with("unknown matcher `pathPrefix` at column 20 (did you mean `PathPrefix`?); known matchers: ClientIP, Header,"),
            "{unknown}"
        );
        assert_eq!(err("Header(`X`)"), "`Header` at column 1 takes 2 argument(s), got 1");
        assert_eq!(err("Host(`a`, `b`)"), "`Host` at column 1 takes 1 argument(s), got 2");
        assert_eq!(err("Query()"), "`Query` at column 1 takes 1 or 2 argument(s), got 0");
        assert_eq!(err("Host(``)"), "argument 1 of `Host` at column 6: must not be empty");
        assert_eq!(
            err("Method(`GET`) && Path(`api`)"),
            "argument 1 of `Path` at column 23: path `api` does not start with a '/'"
        );
        assert_eq!(
            err("ClientIP(`10.0.0.0/40`)"),
            "argument 1 of `ClientIP` at column 10: `10.0.0.0/40` is an invalid IP address or CIDR"
        );
        let bad_re = err("Header(`X`, `a`) || HeaderRegexp(`X-Env`, `(`)");
        assert!(
            bad_re.starts_with("argument 2 of `HeaderRegexp` at column 43: invalid regexp `(`:"),
            "{bad_re}"
        );
        assert_eq!(
            err("Host(`bücher.de`)"),
            "argument 1 of `Host` at column 6: non-ASCII characters are not allowed (use the punycode form of the domain)"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "(".repeat(MAX_DEPTH + 1) + "Host(`a`)" + &")".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(&deep), Err(RuleError::TooDeep { .. })));
        let nots = "!".repeat(10_000) + "Host(`a`)";
        assert!(matches!(parse(&nots), Err(RuleError::TooDeep { .. })));
        let ok = "(".repeat(MAX_DEPTH - 1) + "Host(`a`)" + &")".repeat(MAX_DEPTH - 1);
        assert!(parse(&ok).is_ok());
    }
}
