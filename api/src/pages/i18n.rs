//! Russian and English labels. The language comes from the `sortie_lang`
//! cookie (the switch on every page), else `Accept-Language`, else English.

use actix_web::HttpRequest;

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "sortie_lang";

impl Lang {
    /// `en` / `ru`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ru,
            Lang::Ru => Lang::En,
        }
    }

    /// `en` / `ru` → the language; anything else → `None`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }

    /// The request's language: the switch's cookie, else the best of `Accept-Language`.
    pub fn of(req: &HttpRequest) -> Lang {
        if let Some(lang) = req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())) {
            return lang;
        }
        let header = req.headers().get(actix_web::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        header.map_or(Lang::En, from_accept_language)
    }

    /// The label for `key` in this language (the key itself when it has none: visible in tests).
    pub fn t(self, key: &str) -> &'static str {
        match LABELS.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, ru)) => match self {
                Lang::En => en,
                Lang::Ru => ru,
            },
            None => {
                tracing::warn!(key, "No label");
                "?"
            }
        }
    }
}

/// The highest-weighted of `en` / `ru` in an `Accept-Language` header (others ignored).
pub fn from_accept_language(header: &str) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or("").trim();
        let q =
            pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        let Some(lang) = Lang::parse(tag.split('-').next().unwrap_or("")) else { continue };
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

/// (key, English, Russian).
const LABELS: &[(&str, &str, &str)] = &[
    ("app", "Sortie", "Sortie"),
    ("switch_lang", "Русский", "English"),
    ("sign_in", "Sign in", "Войти"),
    ("sign_out", "Sign out", "Выйти"),
    ("email", "E-mail", "Эл. почта"),
    ("password", "Password", "Пароль"),
    (
        "bad_login",
        "Wrong e-mail or password, or the account is deactivated.",
        "Неверная почта или пароль, либо учётная запись отключена.",
    ),
    ("not_found", "Not found", "Не найдено"),
    ("not_found_text", "There is nothing here, or it is not yours to see.", "Здесь ничего нет, или у вас нет доступа."),
    ("forbidden", "Not allowed", "Нет доступа"),
    ("forbidden_text", "Your role does not use this page.", "Эта страница не для вашей роли."),
    (
        "csrf",
        "The form expired. Reload the page and try again.",
        "Форма устарела. Обновите страницу и попробуйте снова.",
    ),
    ("error", "Something went wrong", "Что-то пошло не так"),
    ("conflict", "This can no longer be done", "Это действие уже невозможно"),
    ("invalid", "Please check the form", "Проверьте форму"),
    ("field", "Field", "Поле"),
    ("back", "Back", "Назад"),
    ("book", "Book a visit", "Вызвать мастера"),
    ("kind", "What do you need?", "Что нужно?"),
    ("home_visit", "Home visit", "Выезд на дом"),
    ("parts_replacement", "Parts replacement", "Замена запчастей"),
    ("parts", "Parts (SKU × quantity, e.g. PSU-1 x 2)", "Запчасти (артикул × количество, напр. PSU-1 x 2)"),
    ("address", "Address", "Адрес"),
    (
        "map_hint",
        "Tap the map to set the point, or type an address with a city.",
        "Нажмите на карту, чтобы указать точку, или укажите адрес с городом.",
    ),
    ("lat", "Latitude", "Широта"),
    ("lon", "Longitude", "Долгота"),
    ("problem", "What is wrong?", "Что случилось?"),
    ("window_start", "Preferred time: from", "Удобное время: с"),
    ("window_end", "to", "по"),
    ("contact_name", "Your name", "Ваше имя"),
    ("contact_phone", "Phone", "Телефон"),
    ("contact_email", "E-mail (optional)", "Эл. почта (необязательно)"),
    (
        "contact_hint",
        "Leave the contact empty to use your client card's.",
        "Оставьте контакты пустыми, чтобы взять их из карточки клиента.",
    ),
    ("submit_book", "Book", "Отправить заявку"),
    ("consent_text", "Consent to the processing of personal data", "Согласие на обработку персональных данных"),
    (
        "consent_personal",
        "I consent to the processing of my personal data for this visit (the text above)",
        "Я даю согласие на обработку моих персональных данных для этого выезда (текст выше)",
    ),
    (
        "consent_notify",
        "Send me notifications about my visits by e-mail and SMS",
        "Присылать мне уведомления о выездах по эл. почте и SMS",
    ),
    ("consent_missing", "Tick the consent to book a visit.", "Отметьте согласие, чтобы отправить заявку."),
    ("tracking", "Your request", "Ваша заявка"),
    ("stage", "Stage", "Этап"),
    ("technician", "Technician", "Мастер"),
    ("window", "Window", "Окно визита"),
    ("eta", "Expected arrival", "Ожидаемое прибытие"),
    ("history", "History", "История"),
    ("not_yet", "not yet", "пока нет"),
    ("cancel", "Cancel the request", "Отменить заявку"),
    ("cancel_reason", "Reason (optional)", "Причина (необязательно)"),
    ("reschedule", "Choose another time", "Перенести"),
    (
        "sign_in_to_change",
        "Sign in as the customer to cancel or reschedule.",
        "Войдите как клиент, чтобы отменить или перенести.",
    ),
    ("survey", "How did we do?", "Как мы справились?"),
    ("survey_link", "Rate the visit", "Оценить визит"),
    (
        "nps",
        "How likely are you to recommend us to a friend? (0–10)",
        "Насколько вероятно, что вы порекомендуете нас другу? (0–10)",
    ),
    ("csat", "How satisfied are you with the visit? (1–5)", "Насколько вы довольны визитом? (1–5)"),
    ("ces", "How easy was it to get your problem solved? (1–7)", "Насколько легко было решить вашу проблему? (1–7)"),
    ("comment", "Comment (optional)", "Комментарий (необязательно)"),
    ("send", "Send", "Отправить"),
    ("thanks", "Thank you! Your answer is recorded.", "Спасибо! Ваш ответ записан."),
    ("visit_of", "Visit on", "Визит"),
    ("stage_received", "Received", "Принята"),
    ("stage_technician_assigned", "Technician assigned", "Мастер назначен"),
    ("stage_scheduled", "Scheduled", "Запланирована"),
    ("stage_on_the_way", "On the way", "Мастер в пути"),
    ("stage_in_progress", "In progress", "В работе"),
    ("stage_done", "Done", "Выполнена"),
    ("stage_cancelled", "Cancelled", "Отменена"),
    ("console", "Console", "Консоль"),
    ("jobs", "Jobs", "Заявки"),
    ("reviews", "Reviews", "Проверка"),
    ("offers", "Offers waiting for you", "Предложения для вас"),
    ("no_offers", "No open offers.", "Открытых предложений нет."),
    ("deadline", "Deadline", "Срок"),
    ("left", "left", "осталось"),
    ("expired", "expired", "истекло"),
    ("accept", "Accept", "Принять"),
    ("decline", "Decline", "Отклонить"),
    ("decline_reason", "Reason", "Причина"),
    ("subcontract", "Subcontract", "Передать субподрядчику"),
    ("to_org", "To organisation", "Организации"),
    ("pick_technician", "Technician (by dispatch ranking)", "Мастер (по рейтингу диспетчеризации)"),
    ("status", "Status", "Статус"),
    ("all", "All", "Все"),
    ("filter", "Filter", "Показать"),
    ("next_page", "Next page", "Дальше"),
    ("first_page", "First page", "В начало"),
    ("no_jobs", "No jobs.", "Заявок нет."),
    ("created", "Created", "Создана"),
    ("priority", "Priority", "Приоритет"),
    ("job", "Job", "Заявка"),
    ("chain", "Chain of organisations", "Цепочка организаций"),
    ("why", "Why this technician", "Почему этот мастер"),
    ("no_explanation", "No dispatch decision yet.", "Решения диспетчеризации ещё нет."),
    ("distance", "Distance", "Расстояние"),
    ("reason", "Reason", "Причина"),
    ("events", "Events", "События"),
    ("organisation", "Organisation", "Организация"),
    ("role", "Role", "Роль"),
    ("sla_accept", "Accept SLA", "SLA принятия"),
    ("sla_arrive", "Arrival SLA", "SLA прибытия"),
    ("queue", "Review queue", "Очередь проверки"),
    ("no_reviews", "Nothing waiting for review.", "Нечего проверять."),
    ("notes", "Notes", "Заметки"),
    ("checklist", "Checklist", "Чек-лист"),
    ("photos", "Photos", "Фото"),
    ("signature", "Signature", "Подпись"),
    ("approve", "Approve", "Принять работу"),
    ("return", "Return for rework", "Вернуть на доработку"),
    ("return_reason", "Reason for the return", "Причина возврата"),
    ("redispatch", "Give it to another technician", "Передать другому мастеру"),
    ("visits", "Visits", "Визиты"),
    (
        "technician_app",
        "Technicians work in the Sortie app: open it on the phone and add it to the home screen.",
        "Мастера работают в приложении Sortie: откройте его на телефоне и добавьте на главный экран.",
    ),
    ("done", "Done.", "Готово."),
    ("map", "Map", "Карта"),
    ("yes", "yes", "да"),
    ("no", "no", "нет"),
    ("met", "met", "выполнен"),
    ("missed", "missed", "нарушен"),
    ("open", "open", "открыт"),
    ("st_new", "new", "новая"),
    ("st_offered", "offered", "предложена"),
    ("st_accepted", "accepted", "принята"),
    ("st_scheduled", "scheduled", "запланирована"),
    ("st_en_route", "on the way", "в пути"),
    ("st_on_site", "on site", "на месте"),
    ("st_completed", "completed", "выполнена"),
    ("st_in_review", "in review", "на проверке"),
    ("st_approved", "approved", "принята заказчиком"),
    ("st_returned", "returned", "возвращена"),
    ("st_incomplete", "incomplete", "не завершена"),
    ("st_unassignable", "unassignable", "без исполнителя"),
    ("st_cancelled", "cancelled", "отменена"),
    ("open_job", "Open", "Открыть"),
    ("proposed", "proposed by dispatch", "предложен диспетчеризацией"),
    ("rank", "rank", "место"),
    ("km", "km", "км"),
    ("offer_to", "Offered to", "Предложена"),
    ("live", "Refreshes by itself.", "Обновляется автоматически."),
    ("pending", "Waiting", "Ожидают"),
    ("approved", "Approved", "Приняты"),
    ("returned", "Returned", "Возвращены"),
    ("parts_used", "Parts used", "Использованные запчасти"),
    ("verdicts", "Earlier verdicts", "Прежние решения"),
    ("technicians", "Technicians", "Мастера"),
    (
        "tech_legend",
        "Green: live position from the phone; blue: home base; grey: inactive.",
        "Зелёный — положение с телефона; синий — домашняя база; серый — не работает.",
    ),
    ("position", "Position", "Положение"),
    ("home_base", "home base", "домашняя база"),
    ("active", "active", "работает"),
    ("inactive", "inactive", "не работает"),
    ("organisations", "Organisations", "Организации"),
    ("manual_routing", "routes manually", "ручная маршрутизация"),
    ("territories", "Territories", "Территории"),
    ("territory_legend", "red: exclusive, blue: shared.", "красные — исключительные, синие — общие."),
    (
        "no_territories",
        "No territories of its own: it covers its parent's area.",
        "Своих территорий нет: работает на территории родителя.",
    ),
    (
        "draw_hint",
        "Tap the map at each corner of the new territory (at least three).",
        "Нажимайте на карту в каждом углу новой территории (не меньше трёх).",
    ),
    ("corners", "Corners (longitude, latitude)", "Углы (долгота, широта)"),
    (
        "exclusive",
        "Exclusive: requests inside belong to this organisation's subtree",
        "Исключительная: заявки внутри достаются этой ветке",
    ),
    ("add_territory", "Add the territory", "Добавить территорию"),
    ("clear_territories", "Remove all territories", "Удалить все территории"),
    ("service", "Service", "Сервис"),
    ("per_30_days", "per 30 days", "за 30 дней"),
    ("jobs_done", "Jobs done", "Выполнено"),
    ("ftf", "First-time fix", "С первого раза"),
    ("rework", "Rework", "Переделки"),
    ("comments", "Customers' comments", "Комментарии клиентов"),
    ("no_comments", "No answered surveys in this period.", "За период ответов на опросы нет."),
    ("day", "Day", "День"),
    ("timezone", "Time zone", "Часовой пояс"),
    ("no_stops", "No visits planned that day.", "На этот день визитов нет."),
    ("arrival", "Arrival", "Прибытие"),
    ("start", "Start", "Начало"),
    ("departure", "Departure", "Отъезд"),
    ("agreement", "Service agreement", "Соглашение об уровне сервиса"),
    (
        "inherited",
        "Inherited from an ancestor; saving gives this organisation its own.",
        "Унаследовано от вышестоящей организации; сохранение задаст собственное.",
    ),
    ("accept_within", "Accept within, min", "Принять за, мин"),
    ("arrive_within", "Arrive within, min", "Прибыть за, мин"),
    ("ftf_target", "First-time-fix target (0–1)", "Цель «с первого раза» (0–1)"),
    ("save", "Save", "Сохранить"),
    ("users", "Users", "Пользователи"),
    ("deactivate", "Deactivate", "Отключить"),
    ("activate", "Activate", "Включить"),
    ("pr_low", "low", "низкий"),
    ("pr_normal", "normal", "обычный"),
    ("pr_high", "high", "высокий"),
    ("pr_urgent", "urgent", "срочный"),
    ("chain_contractor", "general contractor", "генподрядчик"),
    ("chain_hop", "passed on", "передала дальше"),
    ("chain_offeree", "offered", "получила предложение"),
    ("chain_assignee", "doing the work", "исполнитель"),
    ("ev_created", "created", "создана"),
    ("ev_offered", "offered", "предложена"),
    ("ev_declined", "declined", "отклонена"),
    ("ev_offer_expired", "offer expired", "срок предложения истёк"),
    ("ev_escalated", "escalated", "передана выше"),
    ("ev_subcontracted", "subcontracted", "передана субподрядчику"),
    ("ev_accepted", "accepted", "принята"),
    ("ev_assigned", "technician assigned", "назначен мастер"),
    ("ev_rescheduled", "rescheduled", "перенесена"),
    ("ev_status_changed", "status changed", "статус изменён"),
    ("ev_incomplete", "visit not finished", "визит не завершён"),
    ("ev_completed", "completed", "выполнена"),
    ("ev_review_approved", "work approved", "работа принята"),
    ("ev_review_returned", "returned for rework", "возвращена на доработку"),
    ("ev_cancelled", "cancelled", "отменена"),
    ("ev_unassignable", "nobody eligible", "нет подходящего исполнителя"),
    ("looked_at", "technicians looked at:", "рассмотрено мастеров:"),
    ("excluded", "excluded:", "исключено:"),
    ("territory", "Territory", "Территория"),
    ("exclusive_short", "exclusive", "исключительная"),
    ("shared_short", "shared", "общая"),
    ("remove", "Remove", "Удалить"),
    ("new_technician", "New technician", "Новый мастер"),
    ("day_route", "Day route", "Маршрут на день"),
    ("edit_technician", "Edit technician", "Изменить мастера"),
    ("edit", "Edit", "Изменить"),
    ("name", "Name", "Имя"),
    (
        "skills",
        "Skills (codes separated by commas, e.g. printers, pos)",
        "Навыки (коды через запятую, напр. printers, pos)",
    ),
    (
        "home_hint",
        "Home base: tap the map or type latitude and longitude.",
        "Домашняя база: нажмите на карту или введите широту и долготу.",
    ),
    ("timezone_default", "Time zone (empty: the organisation's)", "Часовой пояс (пусто — как у организации)"),
    ("shift", "Shift", "Смена"),
    ("shift_start", "Starts", "Начало"),
    ("shift_end", "Ends", "Конец"),
    (
        "shift_hint",
        "Local time; an end before the start means the shift ends after midnight.",
        "Местное время; конец раньше начала — смена заканчивается после полуночи.",
    ),
    ("work_days", "Working days", "Рабочие дни"),
    ("wd1", "Mon", "Пн"),
    ("wd2", "Tue", "Вт"),
    ("wd3", "Wed", "Ср"),
    ("wd4", "Thu", "Чт"),
    ("wd5", "Fri", "Пт"),
    ("wd6", "Sat", "Сб"),
    ("wd7", "Sun", "Вс"),
    ("daily_capacity", "Visits a day", "Визитов в день"),
    (
        "max_travel_km",
        "Service radius, km (empty: the organisation's)",
        "Радиус выезда, км (пусто — как у организации)",
    ),
    ("is_active", "Active: may be offered jobs", "Работает: получает заявки"),
    ("create", "Create", "Создать"),
    ("saved", "Saved.", "Сохранено."),
    ("create_login", "Create a login for this technician", "Создать вход для этого мастера"),
    ("new_user", "New user", "Новый пользователь"),
    ("edit_user", "Edit user", "Изменить пользователя"),
    ("user_name", "Name (optional)", "Имя (необязательно)"),
    ("role_admin", "Administrator", "Администратор"),
    ("role_reviewer", "Reviewer", "Контролёр качества"),
    ("role_dispatcher", "Dispatcher", "Диспетчер"),
    ("role_technician", "Technician", "Мастер"),
    ("role_customer", "Customer", "Клиент"),
    (
        "links_hint",
        "Dispatchers belong to an organisation, technician logins to a technician, customers optionally to a client card; administrators and reviewers belong to the vendor.",
        "Диспетчер относится к организации, вход мастера — к мастеру, клиент — при желании к карточке клиента; администраторы и контролёры относятся к вендору.",
    ),
    ("org_link", "Organisation (dispatchers)", "Организация (для диспетчеров)"),
    ("technician_link", "Technician (technician logins)", "Мастер (для входа мастера)"),
    ("customer_link", "Client card id (customers, optional)", "Номер карточки клиента (для клиентов, необязательно)"),
    (
        "password_generated",
        "A password is generated and shown once after creating.",
        "Пароль создаётся автоматически и показывается один раз после создания.",
    ),
    ("user_created", "User created", "Пользователь создан"),
    (
        "password_once",
        "This password is shown only this once: copy it now and hand it over safely. It is not stored in clear and cannot be shown again; the user can change it after signing in.",
        "Пароль показан только сейчас: скопируйте его и передайте безопасным способом. Он не хранится в открытом виде и больше не будет показан; пользователь может сменить его после входа.",
    ),
    ("account_active", "Active: may sign in", "Активен: может входить"),
    ("not_in_scope", "Not found among those you manage.", "Не найдено среди доступных вам."),
    (
        "user_exists",
        "A user with this e-mail (or for this technician) already exists.",
        "Пользователь с такой почтой (или для этого мастера) уже есть.",
    ),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_highest_weight_of_the_two() {
        assert_eq!(from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8"), Lang::Ru);
        assert_eq!(from_accept_language("de-DE,en;q=0.5,ru;q=0.4"), Lang::En);
        assert_eq!(from_accept_language("en;q=0.3, ru;q=0.7"), Lang::Ru);
        assert_eq!(from_accept_language("fr"), Lang::En);
    }

    #[test]
    fn every_state_a_page_shows_has_a_label() {
        use crate::domain::{ChainRole, EventType, JobStatus, Priority, Role};
        let keys = Priority::ALL
            .iter()
            .map(|p| format!("pr_{}", p.as_str()))
            .chain(EventType::ALL.iter().map(|e| format!("ev_{}", e.as_str())))
            .chain(ChainRole::ALL.iter().map(|r| format!("chain_{}", r.as_str())))
            .chain(JobStatus::ALL.iter().map(|s| format!("st_{}", s.as_str())))
            .chain(Role::ALL.iter().map(|r| format!("role_{}", r.as_str())))
            .chain((1..=7).map(|d| format!("wd{d}")));
        for key in keys {
            assert!(LABELS.iter().any(|(k, _, _)| *k == key), "no label {key}");
        }
    }

    #[test]
    fn every_label_has_both_languages_and_no_key_repeats() {
        let mut keys = std::collections::HashSet::new();
        for (key, en, ru) in LABELS {
            assert!(keys.insert(key), "{key} twice");
            assert!(!en.is_empty() && !ru.is_empty(), "{key} has an empty label");
        }
    }
}
