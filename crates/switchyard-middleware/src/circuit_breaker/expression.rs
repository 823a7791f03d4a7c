//! The small predicate language of `circuitBreaker.expression` and `buffering.retryExpression`, as oxy
//! parses it: function calls compared with literals (`NetworkErrorRatio() > 0.5`), boolean functions
//! (`IsNetworkError()`), `&&`, `||` and parentheses. Each middleware supplies its own functions; the
//! whole expression is checked when the middleware is built, so a bad one is a configuration error.
//!
//! As in oxy, a comparison has the function on the left and a literal on the right.

use std::fmt;

/// What a function of the language returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Number,
    Text,
}

/// A literal or a function argument.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Number(f64),
    Text(String),
}

/// A value a function returns when the expression is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Bool(bool),
    Number(f64),
    Text(&'a str),
}

/// The functions one middleware offers.
pub(crate) trait Language {
    /// A resolved call.
    type Call: fmt::Debug + Send + Sync;
    /// Resolves `name(args)`, checking the arguments; `Err` says what is wrong.
    fn call(name: &str, args: &[Literal]) -> Result<(Self::Call, Kind), String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed expression.
#[derive(Debug)]
pub(crate) enum Expr<C> {
    Or(Box<Expr<C>>, Box<Expr<C>>),
    And(Box<Expr<C>>, Box<Expr<C>>),
    Compare(C, Op, Literal),
    Test(C),
}

impl<C> Expr<C> {
    /// Evaluates the expression, asking `value` for the result of each call (lazily, left to right).
    pub(crate) fn eval<'a>(&self, value: &mut impl FnMut(&C) -> Value<'a>) -> bool {
        match self {
            Self::Or(a, b) => a.eval(value) || b.eval(value),
            Self::And(a, b) => a.eval(value) && b.eval(value),
            Self::Test(call) => matches!(value(call), Value::Bool(true)),
            Self::Compare(call, op, literal) => match (value(call), literal) {
                (Value::Number(x), Literal::Number(y)) => match op {
                    Op::Eq => x == *y,
                    Op::Ne => x != *y,
                    Op::Lt => x < *y,
                    Op::Le => x <= *y,
                    Op::Gt => x > *y,
                    Op::Ge => x >= *y,
                },
                (Value::Text(x), Literal::Text(y)) => match op {
                    Op::Eq => x == y,
                    Op::Ne => x != y,
                    _ => false,
                },
                _ => false,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Literal(Literal),
    Open,
    Close,
    Comma,
    And,
    Or,
    Op(Op),
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (token, width) = next_token(&chars, i)?;
        tokens.push(token);
        i += width;
    }
    Ok(tokens)
}

/// The token starting at `chars[i]` (not whitespace), and how many characters it takes.
fn next_token(chars: &[char], i: usize) -> Result<(Token, usize), String> {
    let next = chars.get(i + 1).copied();
    let token = match (chars[i], next) {
        ('(', _) => (Token::Open, 1),
        (')', _) => (Token::Close, 1),
        (',', _) => (Token::Comma, 1),
        ('&', Some('&')) => (Token::And, 2),
        ('|', Some('|')) => (Token::Or, 2),
        ('=', Some('=')) => (Token::Op(Op::Eq), 2),
        ('!', Some('=')) => (Token::Op(Op::Ne), 2),
        ('<', Some('=')) => (Token::Op(Op::Le), 2),
        ('>', Some('=')) => (Token::Op(Op::Ge), 2),
        ('<', _) => (Token::Op(Op::Lt), 1),
        ('>', _) => (Token::Op(Op::Gt), 1),
        ('"', _) => text_literal(chars, i)?,
        (c, _)
            if c.is_ascii_digit() || c == '.' || (c == '-' && next.is_some_and(|n| n.is_ascii_digit() || n == '.')) =>
        {
            number_literal(chars, i)?
        }
        (c, _) if c.is_alphabetic() || c == '_' => identifier(chars, i),
        (c, _) => return Err(format!("unexpected character `{c}`")),
    };
    Ok(token)
}

/// The double-quoted text at `chars[i]` (no escapes).
fn text_literal(chars: &[char], i: usize) -> Result<(Token, usize), String> {
    let end = chars[i + 1..]
        .iter()
        .position(|&c| c == '"')
        .ok_or("unterminated string literal")?;
    let text: String = chars[i + 1..i + 1 + end].iter().collect();
    Ok((Token::Literal(Literal::Text(text)), end + 2))
}

/// The number at `chars[i]`: an optional `-`, then digits and dots.
fn number_literal(chars: &[char], i: usize) -> Result<(Token, usize), String> {
    let len = 1 + chars[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == '.')
        .count();
    let text: String = chars[i..i + len].iter().collect();
    let number = text.parse::<f64>().map_err(|_| format!("invalid number `{text}`"))?;
    Ok((Token::Literal(Literal::Number(number)), len))
}

/// The function name at `chars[i]`.
fn identifier(chars: &[char], i: usize) -> (Token, usize) {
    let len = chars[i..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .count();
    (Token::Ident(chars[i..i + len].iter().collect()), len)
}

/// Parses `input` for the functions of `L`.
pub(crate) fn parse<L: Language>(input: &str) -> Result<Expr<L::Call>, String> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err("the expression is empty".into());
    }
    let mut parser = Parser::<L> {
        tokens,
        at: 0,
        language: std::marker::PhantomData,
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {} after a complete expression", describe(token))),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Ident(name) => format!("`{name}`"),
        Token::Literal(Literal::Number(n)) => format!("`{n}`"),
        Token::Literal(Literal::Text(t)) => format!("\"{t}\""),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Comma => "`,`".into(),
        Token::And => "`&&`".into(),
        Token::Or => "`||`".into(),
        Token::Op(_) => "a comparison operator".into(),
    }
}

struct Parser<L> {
    tokens: Vec<Token>,
    at: usize,
    language: std::marker::PhantomData<L>,
}

impl<L: Language> Parser<L> {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Expr<L::Call>, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr<L::Call>, String> {
        let mut left = self.primary()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr<L::Call>, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    Some(token) => Err(format!("expected `)`, found {}", describe(&token))),
                    None => Err("missing `)`".into()),
                }
            }
            Some(Token::Ident(name)) => self.condition(&name),
            Some(token) => Err(format!("expected a function call or `(`, found {}", describe(&token))),
            None => Err("the expression ends too early".into()),
        }
    }

    /// A call to `name` and what it is compared with: a boolean function stands alone, the others are
    /// compared with a literal of their kind.
    fn condition(&mut self, name: &str) -> Result<Expr<L::Call>, String> {
        let (call, kind) = self.call(name)?;
        match (self.peek().cloned(), kind) {
            (Some(Token::Op(op)), Kind::Number | Kind::Text) => {
                self.at += 1;
                self.comparison(name, call, kind, op)
            }
            (_, Kind::Bool) => match self.peek() {
                Some(Token::Op(_)) => Err(format!("`{name}()` is a condition and cannot be compared")),
                _ => Ok(Expr::Test(call)),
            },
            _ => Err(format!(
                "`{name}()` must be compared with a value (`>`, `<`, `==`, ...)"
            )),
        }
    }

    /// The comparison of a call with the literal after `op`: a number with any operator, a text with
    /// `==` and `!=` only.
    fn comparison(&mut self, name: &str, call: L::Call, kind: Kind, op: Op) -> Result<Expr<L::Call>, String> {
        match (self.next(), kind) {
            (Some(Token::Literal(l @ Literal::Number(_))), Kind::Number) => Ok(Expr::Compare(call, op, l)),
            (Some(Token::Literal(l @ Literal::Text(_))), Kind::Text) if matches!(op, Op::Eq | Op::Ne) => {
                Ok(Expr::Compare(call, op, l))
            }
            (Some(token), _) => Err(format!("`{name}()` cannot be compared with {}", describe(&token))),
            (None, _) => Err(format!("missing the value `{name}()` is compared with")),
        }
    }

    fn call(&mut self, name: &str) -> Result<(L::Call, Kind), String> {
        if self.next() != Some(Token::Open) {
            return Err(format!("`{name}` must be called: `{name}(...)`"));
        }
        let args = if self.peek() == Some(&Token::Close) {
            self.at += 1;
            Vec::new()
        } else {
            self.arguments(name)?
        };
        L::call(name, &args)
    }

    /// The literal arguments of a call to `name`, up to and including its `)`.
    fn arguments(&mut self, name: &str) -> Result<Vec<Literal>, String> {
        let mut args = Vec::new();
        loop {
            match self.next() {
                Some(Token::Literal(literal)) => args.push(literal),
                Some(token) => {
                    return Err(format!(
                        "arguments of `{name}` must be literals, found {}",
                        describe(&token)
                    ));
                }
                None => return Err(format!("missing `)` after the arguments of `{name}`")),
            }
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => return Ok(args),
                _ => return Err(format!("missing `)` after the arguments of `{name}`")),
            }
        }
    }
}

/// Checks that `args` are `count` numbers.
pub(crate) fn numbers<const N: usize>(name: &str, args: &[Literal]) -> Result<[f64; N], String> {
    let mut out = [0.0; N];
    if args.len() != N {
        return Err(format!("`{name}` takes {N} argument(s), {} given", args.len()));
    }
    for (slot, arg) in out.iter_mut().zip(args) {
        match arg {
            Literal::Number(n) => *slot = *n,
            Literal::Text(_) => return Err(format!("the arguments of `{name}` are numbers")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Call {
        Ratio,
        Code(f64),
        Flag,
        Method,
    }

    struct Test;

    impl Language for Test {
        type Call = Call;
        fn call(name: &str, args: &[Literal]) -> Result<(Call, Kind), String> {
            match name {
                "Ratio" => numbers::<0>(name, args).map(|_| (Call::Ratio, Kind::Number)),
                "Code" => numbers::<1>(name, args).map(|[c]| (Call::Code(c), Kind::Number)),
                "Flag" => numbers::<0>(name, args).map(|_| (Call::Flag, Kind::Bool)),
                "Method" => numbers::<0>(name, args).map(|_| (Call::Method, Kind::Text)),
                _ => Err(format!("unknown function `{name}`")),
            }
        }
    }

    fn eval(input: &str, ratio: f64, flag: bool) -> bool {
        parse::<Test>(input).unwrap().eval(&mut |call: &Call| match call {
            Call::Ratio => Value::Number(ratio),
            Call::Code(c) => Value::Number(*c * 2.0),
            Call::Flag => Value::Bool(flag),
            Call::Method => Value::Text("GET"),
        })
    }

    #[test]
    fn evaluates_comparisons_and_connectives() {
        assert!(eval("Ratio() > 0.5", 0.6, false));
        assert!(!eval("Ratio() > 0.5", 0.5, false));
        assert!(eval("Ratio() >= 0.5", 0.5, false));
        assert!(eval("Ratio() < 1 && Flag()", 0.5, true));
        assert!(!eval("Ratio() < 1 && Flag()", 0.5, false));
        assert!(eval("Flag() || Code(3) == 6", 0.0, false));
        assert!(eval("(Ratio() != 2 || Flag()) && Code(-1.5) <= -3", 0.0, false));
        assert!(eval("Method() == \"GET\"", 0.0, false));
        assert!(eval("Flag() && Ratio() < 1 || Code(1) == 2", 9.0, false));
    }

    #[test]
    fn reports_bad_input() {
        for (input, needle) in [
            ("", "empty"),
            ("Ratio()", "must be compared"),
            ("Ratio() >", "missing the value"),
            ("Nope() > 1", "unknown function"),
            ("Code() > 1", "takes 1"),
            ("Ratio > 1", "must be called"),
            ("(Ratio() > 1", "missing `)`"),
            ("Ratio() > 1 Flag()", "after a complete"),
            ("Flag() == 1", "cannot be compared"),
            ("Ratio() > \"x\"", "cannot be compared"),
            ("Ratio() > 1 & Flag()", "unexpected character"),
            ("1 < Ratio()", "expected a function call"),
            ("Ratio() > 1..2", "invalid number"),
        ] {
            let error = parse::<Test>(input).unwrap_err();
            assert!(error.contains(needle), "{input}: {error}");
        }
    }
}
