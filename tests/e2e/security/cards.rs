//! Client cards: a login is never linked to someone else's card by the phone
//! it types, and a dispatcher booking on someone's behalf neither finds nor
//! reveals a card outside its scope.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, booking};

both_backends!(
    a_dispatcher_booking_with_a_strangers_phone_neither_reveals_nor_joins_their_card,
    a_new_customer_typing_a_taken_phone_sees_the_same_card_as_with_a_free_one,
);

async fn a_new_customer_typing_a_taken_phone_sees_the_same_card_as_with_a_free_one(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let mut cards = Vec::new();
    // One login types the demo customer's phone (taken by another card), the other a free one.
    for (email, phone) in
        [("taken@customer.example", "+7 916 123-45-67"), ("free@customer.example", "+7 999 111-22-33")]
    {
        let token =
            app.new_login(&admin, &json!({"email": email, "password": "probe-password", "role": "customer"})).await?;
        let mut b = booking();
        b["contact"] = json!({"name": "Probe", "phone": phone});
        assert_eq!(app.book(&token, &b, None).await?.status, StatusCode::CREATED);
        let me = app.get("/v1/customers/me", &token).await?;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        cards.push(me.body);
    }
    assert_eq!(cards[0]["phone"], "+79161234567", "the number it books with, not a hint that it is taken");
    assert_eq!(cards[1]["phone"], "+79991112233");
    Ok(())
}

async fn a_dispatcher_booking_with_a_strangers_phone_neither_reveals_nor_joins_their_card(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: the demo customer books in Moscow; the Ural partner's dispatcher never sees that request.
    let app = TestApp::spawn(backend).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let victim = app.book(&customer, &booking(), None).await?.str("customer_id");
    let ural = app.login("dispatcher@ural.demo.sortie").await?;
    assert_eq!(app.get(&format!("/v1/customers/{victim}"), &ural).await?.status, StatusCode::NOT_FOUND);

    // Act: the Ural dispatcher books with the victim's phone, then with the victim's e-mail, and for a stranger.
    let mut probe = booking();
    probe["contact"] = json!({"name": "Probe", "phone": "+7 916 123-45-67"});
    let by_phone = app.book(&ural, &probe, None).await?;
    assert_eq!(by_phone.status, StatusCode::CREATED, "{}", by_phone.body);
    let mut probe_mail = booking();
    probe_mail["contact"] = json!({"name": "Probe", "phone": "+7 999 000-00-01", "email": "customer@demo.sortie"});
    let by_email = app.book(&ural, &probe_mail, None).await?;
    let mut stranger = booking();
    stranger["contact"] = json!({"name": "Probe", "phone": "+7 999 000-00-02"});
    let fresh = app.book(&ural, &stranger, None).await?;

    // Assert: neither booking landed on the victim's card, and their cards look like a stranger's.
    for r in [&by_phone, &by_email] {
        assert_ne!(r.str("customer_id"), victim, "a dispatcher's booking joined a card it cannot see");
    }
    let seen = app.get(&format!("/v1/customers/{}", by_phone.str("customer_id")), &ural).await?;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        (seen.str("name"), seen.str("phone"), seen.body["email"].clone(), seen.body["requests_count"].clone()),
        ("Probe".to_owned(), "+79161234567".to_owned(), json!(null), json!(1)),
        "the card shows only what the dispatcher's own request carries"
    );
    let other = app.get(&format!("/v1/customers/{}", fresh.str("customer_id")), &ural).await?;
    let keys = |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&seen.body), keys(&other.body), "same answer shape whether or not a card existed");
    let mail = app.get(&format!("/v1/customers/{}", by_email.str("customer_id")), &ural).await?;
    assert_eq!(mail.str("name"), "Probe");
    let admin = app.login("admin@demo.sortie").await?;
    let card = app.get(&format!("/v1/customers/{victim}"), &admin).await?;
    assert_eq!(card.body["requests_count"], 1, "the victim's history is untouched: {}", card.body);
    assert_eq!(card.str("name"), "Ivan Petrov");

    // A returning customer of the Ural partner is found again by the phone its requests carry.
    let again = app.book(&ural, &probe, None).await?;
    assert_eq!(again.str("customer_id"), by_phone.str("customer_id"));
    Ok(())
}
