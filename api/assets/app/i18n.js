// Russian and English labels of the technician app. The language is the technician's choice (kept on the
// device), else the browser's first of ru / en, else English.

const LABELS = {
  app_title: ["My day", "Мой день"],
  sign_in: ["Sign in", "Войти"],
  sign_out: ["Sign out", "Выйти"],
  sign_out_waiting: ["Sign-out waits until every action is sent", "Выход возможен, когда все действия отправлены"],
  email: ["E-mail", "Эл. почта"],
  password: ["Password", "Пароль"],
  bad_login: ["Wrong e-mail or password", "Неверная почта или пароль"],
  not_technician: ["This app is for technicians", "Это приложение для мастеров"],
  need_network: ["Signing in needs a connection", "Для входа нужна связь"],
  signed_out: ["Your session ended: sign in again to send your work (nothing is lost)", "Сеанс завершён: войдите снова, чтобы отправить работу (ничего не потеряно)"],
  other_user: ["Actions of another technician are waiting on this device: sign in as them first", "На устройстве ждут отправки действия другого мастера: сначала войдите под ним"],
  online: ["Online", "В сети"],
  offline: ["Offline", "Нет связи"],
  waiting: ["waiting to send", "ждут отправки"],
  last_sync: ["Synced", "Синхр."],
  never: ["never", "ещё не было"],
  sync_now: ["Sync now", "Синхронизировать"],
  today: ["Today", "Сегодня"],
  tomorrow: ["Tomorrow", "Завтра"],
  later: ["Later", "Позже"],
  finished: ["Finished and waiting", "Завершённые и ожидающие"],
  no_visits: ["No visits", "Визитов нет"],
  planned_arrival: ["Arrival", "Прибытие"],
  window: ["Window", "Окно"],
  customer: ["Customer", "Клиент"],
  problem: ["Problem", "Проблема"],
  address: ["Address", "Адрес"],
  parts_needed: ["Parts needed", "Нужные запчасти"],
  map: ["Route on the map", "Маршрут на карте"],
  map_offline: ["The map needs a connection", "Для карты нужна связь"],
  back: ["My day", "Мой день"],
  status: ["Status", "Статус"],
  st_scheduled: ["scheduled", "запланирован"],
  st_en_route: ["on the way", "в пути"],
  st_on_site: ["on site", "на месте"],
  st_completed: ["completed", "выполнен"],
  st_in_review: ["completed, in review", "выполнен, на проверке"],
  st_incomplete: ["not finished", "не завершён"],
  pending: ["not sent yet", "ещё не отправлено"],
  set_off: ["Set off", "Выехал"],
  arrived: ["Arrived", "На месте"],
  complete: ["Complete the visit", "Завершить визит"],
  incomplete: ["Could not finish", "Не удалось завершить"],
  reason: ["Reason", "Причина"],
  customer_absent: ["Customer absent", "Клиента нет"],
  part_missing: ["Part missing", "Нет запчасти"],
  second_visit_needed: ["Second visit needed", "Нужен второй визит"],
  notes: ["Notes", "Заметки"],
  note: ["Note", "Заметка"],
  add_note: ["Add note", "Добавить заметку"],
  checklist: ["Checklist", "Чек-лист"],
  parts_used: ["Parts used", "Использованные запчасти"],
  sku: ["Part code", "Код запчасти"],
  qty: ["Quantity", "Количество"],
  serial: ["Serial number", "Серийный номер"],
  scan: ["Scan", "Сканировать"],
  stop_scan: ["Stop scanning", "Остановить"],
  add_part: ["Add part", "Добавить запчасть"],
  photos: ["Photos", "Фото"],
  take_photo: ["Take a photo", "Сделать фото"],
  photo: ["Photo", "Фото"],
  uploaded: ["uploaded", "загружено"],
  not_uploaded: ["waiting to upload", "ждёт загрузки"],
  signature: ["Customer's signature", "Подпись клиента"],
  signer: ["Signer's name", "Имя подписавшего"],
  sign_here: ["Sign here", "Подпишите здесь"],
  clear: ["Clear", "Очистить"],
  save_signature: ["Save signature", "Сохранить подпись"],
  signed_by: ["Signed by", "Подписал"],
  report_locked: ["The report is closed", "Отчёт закрыт"],
  rework: ["Returned for rework", "Возвращено на доработку"],
  not_found: ["This visit is no longer on your phone", "Этого визита больше нет на телефоне"],
  rejected: ["Not accepted by the office", "Не принято офисом"],
  dismiss: ["OK", "Понятно"],
  now_status: ["Now", "Сейчас"],
  r_not_assigned: ["this job was reassigned to another technician", "заказ передан другому мастеру"],
  r_job_cancelled: ["this job was cancelled", "заказ отменён"],
  r_invalid_transition: ["the status had already changed", "статус уже изменился"],
  r_not_today: ["you can set off only on the visit's day", "выехать можно только в день визита"],
  r_report_locked: ["the report was already closed", "отчёт уже закрыт"],
  r_job_not_active: ["the visit is not active", "визит не активен"],
  r_unknown_checklist_item: ["not on this job's checklist", "нет в чек-листе этого заказа"],
  r_id_conflict: ["belongs to another job", "относится к другому заказу"],
  r_other: ["refused", "отклонено"],
  language: ["Русский", "English"],
  position_on: ["Sharing position while on the way", "Передаю местоположение в пути"],
};

let lang = "en";

/** The label for `key` in the current language. */
export function t(key) {
  const l = LABELS[key];
  if (!l) return key;
  return lang === "ru" ? l[1] : l[0];
}

export function current() { return lang; }

/** Picks the language: the saved choice, else the browser's. */
export function choose(saved) {
  if (saved === "ru" || saved === "en") lang = saved;
  else {
    const pref = (navigator.languages || [navigator.language || "en"]).map((l) => l.slice(0, 2).toLowerCase());
    lang = pref.find((l) => l === "ru" || l === "en") || "en";
  }
  document.documentElement.lang = lang;
  return lang;
}

/** A rejection's reason in words. */
export function reason(code) {
  return LABELS["r_" + code] ? t("r_" + code) : t("r_other") + " (" + code + ")";
}

/** A job status in words. */
export function statusName(s) {
  return LABELS["st_" + s] ? t("st_" + s) : s;
}
