//! The Slack notifier against a local server standing in for Slack.

use chathooks::event::{
    Channel, Contact, Conversation, Event, EventKind, Message as ChatMessage, Vendor,
};
use chathooks::sender::{Outcome, SlackNotifier};

use super::server::{Reply, Server};
use super::{clock, local};

fn lead() -> Event {
    let mut e = Event::new(Vendor::Sam, EventKind::LeadCaptured, "lead.captured");
    let mut c = Contact::default();
    c.name = Some("Ana <b>García</b> & co".into());
    c.emails.push("ana.garcia@example.com".into());
    c.phones.push("+34 612 345 678".into());
    c.custom_fields
        .insert("budget".into(), serde_json::json!("10-20k"));
    e.contact = Some(c);
    let mut conv = Conversation::default();
    conv.id = Some("conv_81".into());
    conv.channel = Some(Channel::WhatsApp);
    e.conversation = Some(conv);
    let mut m = ChatMessage::default();
    m.text = Some("Please call me after 5pm <!here>".into());
    e.message = Some(m);
    e
}

#[tokio::test]
async fn posts_block_kit_for_the_three_notified_kinds() {
    // Slack answers 200 with the body "ok".
    let slack = Server::start(vec![Reply::status(200).body("ok")]).await;
    let clock = clock();
    let url = slack.url("/services/T000/B000/XXXXSECRET");
    let notifier = SlackNotifier::new(local(&clock).build().unwrap(), &url).unwrap();

    for (kind, title) in [
        (EventKind::LeadCaptured, "New lead captured"),
        (EventKind::CallbackRequested, "Callback requested"),
        (
            EventKind::HandoverRequested,
            "Conversation escalated to a human",
        ),
    ] {
        let mut event = lead();
        event.kind = kind;
        let d = notifier.notify(&event).await.expect("notified kind");
        assert_eq!(d.outcome, Outcome::Delivered { status: 200 });
        assert!(
            !d.url.contains("XXXXSECRET"),
            "the webhook URL is a secret: {}",
            d.url
        );
        let req = slack.requests().pop().unwrap();
        assert_eq!(req.target, "/services/T000/B000/XXXXSECRET");
        assert_eq!(req.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert!(body["text"].as_str().unwrap().starts_with(title), "{body}");
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert!(blocks[0]["text"]["text"].as_str().unwrap().ends_with(title));
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"*Name*\nAna &lt;b&gt;García&lt;/b&gt; &amp; co"));
        assert!(fields.contains(&"*Email*\nana.garcia@example.com"));
        assert!(fields.contains(&"*Phone*\n+34 612 345 678"));
        assert!(fields.contains(&"*Channel*\nWhatsApp"));
        assert!(fields.contains(&"*Conversation*\nconv_81"));
        let raw = String::from_utf8(req.body.clone()).unwrap();
        assert!(
            !raw.contains("<!here>"),
            "visitor text must not ping the channel"
        );
        assert!(raw.contains("&lt;!here&gt;"));
        assert!(raw.contains("budget"));
        assert_eq!(blocks.last().unwrap()["type"], "context");
    }
    assert_eq!(slack.request_count(), 3);

    // Other kinds are not posted.
    let mut other = lead();
    other.kind = EventKind::MessageReceived;
    assert!(notifier.notify(&other).await.is_none());
    assert_eq!(slack.request_count(), 3);
}

#[tokio::test]
async fn an_archived_channel_is_reported_gone() {
    let slack = Server::start(vec![Reply::status(410).body("channel_is_archived")]).await;
    let clock = clock();
    let notifier =
        SlackNotifier::new(local(&clock).build().unwrap(), &slack.url("/services/x")).unwrap();
    let d = notifier.notify(&lead()).await.unwrap();
    assert_eq!(d.outcome, Outcome::Gone);
    assert_eq!(d.attempts[0].response_excerpt, "channel_is_archived");
}

#[tokio::test]
async fn the_strict_default_refuses_a_local_slack_url() {
    let notifier = SlackNotifier::new(
        chathooks::sender::Sender::builder().build().unwrap(),
        "http://127.0.0.1:9/services/x",
    )
    .unwrap();
    let d = notifier.notify(&lead()).await.unwrap();
    assert!(matches!(d.outcome, Outcome::Refused { .. }));
}
