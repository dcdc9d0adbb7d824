//! "The output always builds": the JSON of `Accumulator::write_json` must be JSON, and must decode as
//! `chatsse.types.ChatCompletion` the way the Python builder (src/python/objects.rs) decodes it:
//! each declared field of the type python/chatsse/types.py gives it (an int field takes only a number
//! without fraction or exponent, a float field any finite number, `str | None` a string or null),
//! undeclared members any JSON whose floats are finite, integers of at most 4,300 digits anywhere
//! (CPython's limit), nesting within the scanner's depth limit.

use serde_json::{Map, Number, Value};

/// Parses `json` as the Python side would read it; the error says what and where.
pub fn check_completion(json: &str) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    deserializer.disable_recursion_limit();
    let value: Value = serde::Deserialize::deserialize(&mut deserializer).map_err(|e| format!("not JSON: {e}"))?;
    deserializer.end().map_err(|e| format!("not JSON: {e}"))?;
    let depth = depth(&value);
    if depth > chatsse::json::MAX_DEPTH as usize {
        return Err(format!("nesting {depth} deeper than the scanner's limit"));
    }
    Type::Struct(COMPLETION).check(&value, "$")
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[derive(Clone, Copy)]
enum Type {
    Str,
    Int,
    Float,
    /// Anything (list[Any], undeclared members): every number must still be one Python can hold.
    Any,
    Nullable(&'static Type),
    List(&'static Type),
    Struct(&'static StructType),
    /// `str | list[Any] | None`: a message's content.
    Content,
}

struct StructType {
    name: &'static str,
    fields: &'static [(&'static str, Type)],
    required: &'static [&'static str],
}

const STR_OR_NULL: Type = Type::Nullable(&Type::Str);
const INT_LIST_OR_NULL: Type = Type::Nullable(&Type::List(&Type::Int));

const FUNCTION_CALL: &StructType = &StructType { name: "FunctionCall", fields: &[("name", Type::Str), ("arguments", Type::Str)], required: &[] };
const CUSTOM_CALL: &StructType = &StructType { name: "CustomCall", fields: &[("name", Type::Str), ("input", Type::Str)], required: &[] };
const TOOL_CALL: &StructType = &StructType {
    name: "ToolCall",
    fields: &[("id", Type::Str), ("type", Type::Str), ("function", Type::Struct(FUNCTION_CALL)), ("custom", Type::Struct(CUSTOM_CALL))],
    required: &[],
};
const TOP_LOGPROB: &StructType = &StructType {
    name: "TopLogprob",
    fields: &[("token", Type::Str), ("logprob", Type::Float), ("bytes", INT_LIST_OR_NULL)],
    required: &[],
};
const TOKEN_LOGPROB: &StructType = &StructType {
    name: "TokenLogprob",
    fields: &[
        ("token", Type::Str),
        ("logprob", Type::Float),
        ("bytes", INT_LIST_OR_NULL),
        ("top_logprobs", Type::List(&Type::Struct(TOP_LOGPROB))),
    ],
    required: &[],
};
const TOKEN_LOGPROBS_OR_NULL: Type = Type::Nullable(&Type::List(&Type::Struct(TOKEN_LOGPROB)));
const CHOICE_LOGPROBS: &StructType =
    &StructType { name: "ChoiceLogprobs", fields: &[("content", TOKEN_LOGPROBS_OR_NULL), ("refusal", TOKEN_LOGPROBS_OR_NULL)], required: &[] };
const URL_CITATION: &StructType = &StructType {
    name: "AnnotationURLCitation",
    fields: &[("end_index", Type::Int), ("start_index", Type::Int), ("title", Type::Str), ("url", Type::Str)],
    required: &[],
};
const ANNOTATION: &StructType =
    &StructType { name: "Annotation", fields: &[("type", Type::Str), ("url_citation", Type::Struct(URL_CITATION))], required: &[] };
const AUDIO: &StructType = &StructType {
    name: "ChatCompletionAudio",
    fields: &[("id", Type::Str), ("data", Type::Str), ("expires_at", Type::Int), ("transcript", Type::Str)],
    required: &[],
};
const MESSAGE: &StructType = &StructType {
    name: "ChatCompletionMessage",
    fields: &[
        ("role", Type::Str),
        ("content", Type::Content),
        ("refusal", STR_OR_NULL),
        ("reasoning_content", STR_OR_NULL),
        ("reasoning", STR_OR_NULL),
        ("name", Type::Str),
        ("tool_calls", Type::Nullable(&Type::List(&Type::Struct(TOOL_CALL)))),
        ("function_call", Type::Nullable(&Type::Struct(FUNCTION_CALL))),
        ("annotations", Type::Nullable(&Type::List(&Type::Struct(ANNOTATION)))),
        ("audio", Type::Nullable(&Type::Struct(AUDIO))),
    ],
    required: &[],
};
const CHOICE: &StructType = &StructType {
    name: "Choice",
    fields: &[
        ("index", Type::Int),
        ("message", Type::Struct(MESSAGE)),
        ("logprobs", Type::Nullable(&Type::Struct(CHOICE_LOGPROBS))),
        ("finish_reason", STR_OR_NULL),
    ],
    required: &["index"],
};
const PROMPT_TOKENS_DETAILS: &StructType = &StructType {
    name: "PromptTokensDetails",
    fields: &[
        ("cached_tokens", Type::Int),
        ("cache_write_tokens", Type::Int),
        ("audio_tokens", Type::Int),
        ("text_tokens", Type::Int),
        ("image_tokens", Type::Int),
    ],
    required: &[],
};
const COMPLETION_TOKENS_DETAILS: &StructType = &StructType {
    name: "CompletionTokensDetails",
    fields: &[
        ("reasoning_tokens", Type::Int),
        ("audio_tokens", Type::Int),
        ("accepted_prediction_tokens", Type::Int),
        ("rejected_prediction_tokens", Type::Int),
        ("text_tokens", Type::Int),
    ],
    required: &[],
};
const USAGE: &StructType = &StructType {
    name: "Usage",
    fields: &[
        ("prompt_tokens", Type::Int),
        ("completion_tokens", Type::Int),
        ("total_tokens", Type::Int),
        ("prompt_tokens_details", Type::Nullable(&Type::Struct(PROMPT_TOKENS_DETAILS))),
        ("completion_tokens_details", Type::Nullable(&Type::Struct(COMPLETION_TOKENS_DETAILS))),
    ],
    required: &[],
};
const COMPLETION: &StructType = &StructType {
    name: "ChatCompletion",
    fields: &[
        ("id", Type::Str),
        ("object", Type::Str),
        ("created", Type::Int),
        ("model", Type::Str),
        ("choices", Type::List(&Type::Struct(CHOICE))),
        ("usage", Type::Nullable(&Type::Struct(USAGE))),
        ("service_tier", STR_OR_NULL),
        ("system_fingerprint", STR_OR_NULL),
    ],
    required: &[],
};

/// An integer as the builder reads one: no fraction, no exponent, and no more digits than CPython
/// turns into an int (`sys.get_int_max_str_digits()`, json::MAX_INT_DIGITS).
fn is_integer(number: &Number) -> bool {
    let text = number.to_string();
    !text.contains(['.', 'e', 'E']) && text.trim_start_matches('-').len() <= chatsse::json::MAX_INT_DIGITS
}

/// A number a float field (or an untyped value) can hold: an integer Python makes, or a float that
/// does not overflow.
fn is_finite(number: &Number) -> bool {
    let text = number.to_string();
    if !text.contains(['.', 'e', 'E']) {
        return is_integer(number);
    }
    text.parse::<f64>().is_ok_and(f64::is_finite)
}

impl Type {
    fn check(&self, value: &Value, path: &str) -> Result<(), String> {
        let wrong = |expected: &str| Err(format!("{path}: expected {expected}, found {}", short(value)));
        match (self, value) {
            (Type::Nullable(_), Value::Null) => Ok(()),
            (Type::Nullable(inner), _) => inner.check(value, path),
            (Type::Str, Value::String(_)) => Ok(()),
            (Type::Str, _) => wrong("a string"),
            (Type::Int, Value::Number(n)) if is_integer(n) => Ok(()),
            (Type::Int, _) => wrong("an integer"),
            (Type::Float, Value::Number(n)) if is_finite(n) => Ok(()),
            (Type::Float, _) => wrong("a finite number (or an integer Python makes)"),
            (Type::List(item), Value::Array(items)) => {
                items.iter().enumerate().try_for_each(|(i, element)| item.check(element, &format!("{path}[{i}]")))
            }
            (Type::List(_), _) => wrong("an array"),
            (Type::Struct(schema), Value::Object(members)) => schema.check(members, path),
            (Type::Struct(schema), _) => wrong(&format!("an object ({})", schema.name)),
            (Type::Content, Value::Null | Value::String(_)) => Ok(()),
            (Type::Content, Value::Array(_)) => Type::Any.check(value, path),
            (Type::Content, _) => wrong("a string, an array or null"),
            (Type::Any, Value::Number(n)) if !is_finite(n) => wrong("a finite number (or an integer Python makes)"),
            (Type::Any, Value::Array(items)) => {
                items.iter().enumerate().try_for_each(|(i, element)| Type::Any.check(element, &format!("{path}[{i}]")))
            }
            (Type::Any, Value::Object(members)) => {
                members.iter().try_for_each(|(key, member)| Type::Any.check(member, &format!("{path}.{key}")))
            }
            (Type::Any, _) => Ok(()),
        }
    }
}

impl StructType {
    fn check(&self, members: &Map<String, Value>, path: &str) -> Result<(), String> {
        for required in self.required {
            if !members.contains_key(*required) {
                return Err(format!("{path}: {} lacks its required `{required}`", self.name));
            }
        }
        for (key, value) in members {
            let member_path = format!("{path}.{key}");
            match self.fields.iter().find(|(name, _)| name == key) {
                Some((_, ty)) => ty.check(value, &member_path)?,
                None => Type::Any.check(value, &member_path)?,
            }
        }
        Ok(())
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}
