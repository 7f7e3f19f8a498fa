"""Chinese words for the service's messages: field names, and why the libraries refused.

The libraries refuse with a :class:`points.Cause`: a code and its parameters, whose English text
is the libraries' table (``points.CAUSES``). :data:`CAUSES_ZH` is the one Chinese table beside it
and :func:`cause_zh` fills it in, naming fields, kinds of things, org kinds and roles in Chinese
(a test holds that every code has a text here). :func:`reason_zh` is only for the English phrases
that do not come from the libraries: msgspec's validation messages (``must be >= 1``) and the
service's own, in msgspec's form; an unknown phrase falls back to a general sentence, never to
English mixed into Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from points import CAUSES, Cause
from service import labels

FIELDS = {
    "address": "地址",
    "consent": "同意",
    "contact": "联系方式",
    "handler": "经办人",
    "id_kind": "证件类型",
    "id_number": "证件号码",
    "organisation": "出具单位",
    "person_in_charge": "负责人",
    "seal": "公章图片",
    "amount": "积分数",
    "attendance": "参加人员",
    "beneficiary_id": "受助居民",
    "body": "请求内容",
    "capacity": "所需人数",
    "capacity_per_week": "每周可接单数",
    "category": "类别",
    "change": "变动数量",
    "code": "确认码",
    "comment": "评价内容",
    "cost": "所需积分",
    "cursor": "分页游标",
    "description": "描述",
    "estimated_minutes": "预计时长（分钟）",
    "event_id": "活动编号",
    "home_org_id": "居住地",
    "home_unit_id": "所属单位",
    "file": "文件",
    "import_id": "导入批次",
    "room": "房号",
    "roles": "角色",
    "availability": "可服务时间",
    "id": "编号",
    "item_id": "商品",
    "kind": "类型",
    "limit": "每页数量",
    "location": "位置",
    "member_id": "成员",
    "memo": "备注",
    "minutes": "分钟数",
    "name": "名称",
    "now": "时间",
    "offline_at": "离线时间",
    "org_id": "地点",
    "override_reason": "代报到原因",
    "password": "密码",
    "per_member_limit": "每人限兑数量",
    "phone": "手机号",
    "photos": "照片",
    "period": "统计期间",
    "format": "文件格式",
    "places": "名额",
    "policy": "积分规则",
    "proxy_note": "代点单说明",
    "purpose": "用途说明",
    "quantity": "数量",
    "rating": "评分",
    "reason": "原因",
    "proposed": "更正后的值",
    "field": "更正项",
    "note": "备注",
    "role": "角色",
    "rules": "社区规则",
    "schedule": "服务时间安排",
    "since": "开始时间",
    "skills": "技能",
    "started_at": "开始时间",
    "stock": "库存",
    "title": "标题",
    "to_member": "受赠人",
    "token": "报到二维码",
    "unit_claim_id": "单位认领",
    "unit_id": "单位",
    "until": "结束时间",
    "urgency": "紧急程度",
    "valid_from": "上架时间",
    "valid_until": "下架时间",
    "window_end": "结束时间",
    "window_start": "开始时间",
    "wish_id": "心愿",
    # an accrual policy (积分规则)
    "points_per_hour": "每小时积分",
    "category_multipliers": "类别倍数",
    "rounding_step": "取整单位",
    "rounding_mode": "取整方式",
    "min_minutes": "最短计分时长（分钟）",
    "max_minutes_per_activity": "单次最长计分时长（分钟）",
    "daily_cap": "每日积分上限",
    "monthly_cap": "每月积分上限",
    "key_household_bonus_percent": "重点家庭加成（%）",
    "night_bonus_percent": "夜间加成（%）",
    "night_start_hour": "夜间开始时刻",
    "night_end_hour": "夜间结束时刻",
    "holiday_bonus_percent": "节假日加成（%）",
    "holidays": "节假日",
    "expiry_days": "积分有效期（天）",
    "donations": "捐赠范围",
    # a community's rules (社区规则)
    "categories": "类别",
    "claim_limit": "认领上限",
    "auto_accept_days": "自动确认天数",
    "checkin_distance_m": "报到距离（米）",
    "deadlines": "办理时限",
    "category_deadlines": "分类办理时限",
    "verify_hours": "审核时限（小时）",
    "claim_hours": "认领时限（小时）",
    "complete_hours": "完成时限（小时）",
    "goods_points": "物资心愿积分",
    "offers_need_verification": "互助项目须审核",
    "weights": "匹配权重",
}

GROUPS = {"weights": "匹配权重"}
"""Fields whose parts read after the group's name (``weights.skills``: 匹配权重·技能)."""

WEIGHTS = {  # the parts of matching's weights (marketplace.Weights)
    "skills": "技能",
    "distance": "距离",
    "availability": "空闲时间",
    "fairness": "公平",
    "reliability": "可靠程度",
    "urgency": "紧急程度",
    "key_household": "重点家庭",
    "waiting": "等待时间",
}

WHAT = {
    "wish": "心愿",
    "claim": "认领",
    "member": "成员",
    "org": "组织",
    "community": "社区",
    "offer": "互助项目",
    "photo": "照片",
    "role": "角色",
    "transfer": "积分记录",
    "account": "积分账户",
    "catalog item": "商品",
    "redemption order": "兑换订单",
    "service record": "服务记录",
    "correction": "更正申请",
    "route": "接口",
    "matter": "督办事项",
    "webhook": "Webhook",
}

CAUSES_ZH: dict[str, str] = {
    "sheet_too_large": "文件不能超过 {mb} MB",
    "sheet_empty": "文件是空的",
    "sheet_no_header": "第1行须为列名（姓名、手机号……）",
    "sheet_encrypted": "文件设有密码保护，请取消密码后重新上传",
    "sheet_xls": "这是旧版 Excel 文件（.xls），请另存为 .xlsx 或 CSV 后上传",
    "sheet_unreadable": "不是可以读取的表格文件，请上传 .xlsx 或 .csv 文件",
    "sheet_encoding": "无法识别文件的文字编码，请另存为 UTF-8 或 GB18030 编码的 CSV",
    "sheet_too_many_rows": "最多 {high} 行",
    "roster_columns": "缺少必填列：{columns}（请使用模板）",
    "roster_column_twice": "列“{column}”出现了两次",
    "roster_formula": "不能以 = + - @ 开头（疑似公式），请只填文字",
    "roster_duplicate_phone": "与第 {first} 行的手机号重复",
    "roster_phone_many": "本社区有多名成员使用该手机号，请先在成员页核对",
    "roster_phone_elsewhere": "该手机号已被本社区以外的成员登记",
    "roster_unknown_grid": "本社区没有名为“{word}”的网格",
    "roster_ambiguous": "名为“{word}”的不止一个，请填写编号",
    "roster_unknown_building": "本社区没有名为“{word}”的楼栋",
    "roster_building_outside_grid": "所填网格内没有名为“{word}”的楼栋",
    "roster_ambiguous_building": "多个网格都有“{word}”，请同时填写网格",
    "roster_unknown_unit": "没有与本社区结对的单位“{word}”",
    "roster_unknown_role": "“{word}”不是可导入的角色"
    "（可填：居民、志愿者、党员、网格员、社区工作人员）",
    "roster_office_role": "社区工作人员须由管理员导入或授予",
    "roster_unknown_key_household": "“{word}”不是重点家庭类型"
    "（可填：独居老人、残疾、大病、低保、留守儿童）",
    "roster_needs_consent": "填写重点家庭类型须同时填写同意书编号（单独同意）",
    "roster_dropped": "这份文件已放弃导入，请重新上传",
    "range": "须为 {low} 到 {high}",
    "length": "须为 {low} 到 {high} 个字符",
    "too_long": "最多 {high} 个字",
    "too_many": "最多 {high} 项",
    "at_most": "最大为 {high}",
    "stock_at_most": "须使补货后库存不超过 {high}",
    "empty": "不能为空",
    "text": "必须是文字",
    "integer": "必须是整数",
    "positive": "须为正整数",
    "non_zero": "须为非零整数",
    "not_negative": "不能为负数",
    "id_chars": "只能使用字母、数字和 . _ : @ -",
    "id_taken": "该编号已被其他{what}使用",
    "cursor": "不是本列表给出的分页游标",
    "phone": "必须是11位手机号码",
    "skills": "最多{count}项技能，每项{low}到{high}个字",
    "needs_time_zone": "必须是带时区的日期时间",
    "years": "须在{low}年到{high}年之间",
    "in_past": "必须晚于当前时间",
    "in_future": "不能晚于当前时间",
    "after": "必须晚于{other}",
    "not_below": "不能小于{other}",
    "must_differ": "须与{other}不同（设置了夜间加成时）",
    "unknown_category": "必须是本社区设定的类别之一",
    "outside_community": "必须是本社区或社区内的地点",
    "outside_member_org": "必须在所加入组织的范围内",
    "not_community_member": "必须是本社区成员",
    "member_not_in_community": "{member} 不是本社区成员",
    "not_resident": "必须是本社区的居民",
    "not_claiming_role": "必须是本社区的志愿者或党员",
    "not_unit": "必须是单位",
    "not_unit_member": "必须是该单位的成员",
    "not_unit_claim": "不是单位认领",
    "own_wish": "不能服务自己的心愿",
    "not_offer_request": "不是来自互助项目的申请",
    "proxy_needs_consent": "代点单须注明居民同意的方式",
    "wish_span": "心愿时间最长{days}天，且须在一年以内",
    "checkin_too_early": "报到最早在约定时间前{hours}小时开始",
    "checkin_token_invalid": "不是本社区的报到二维码",
    "checkin_token_expired": "已过期，请居民刷新页面后再扫",
    "offline_time_zone": "须带时区",
    "offline_time_future": "不能晚于现在（手机时间最多可快 {minutes} 分钟），请校准手机时间",
    "offline_time_stale": "离线时的报到/签退须在 {hours} 小时内发送",
    "offline_time_early": "不能早于认领（签退不能早于报到）",
    "self_donation": "不能捐赠给自己",
    "attendance_size": "须为 1 到 {high} 人",
    "duplicate_member": "每位成员只能出现一次",
    "stats_level": "统计按社区、街道或区县进行",
    "day_start": "须为北京时间零点（统计按天汇总）",
    "stats_period": "请给出统计期间（period），或同时给出起止时间（since 与 until）",
    "period_format": "统计期间须为年（2026）、季度（2026-Q3）、月（2026-11）、"
    "最近天数（30d，1至366天）或起止范围（2026-01-05..2026-03-31、2026-01..2026-03）",
    "period_order": "开始日期不能晚于结束日期",
    "period_too_long": "起止范围最长 {days} 天（十年）",
    "export_kind": "须为以下之一：{kinds}",
    "export_format": "须为 xlsx（Excel）或 csv",
    "consent_purpose": "须为以下之一：{purposes}",
    "no_service_records": "这段时间在本社区没有已核实的志愿服务时长，无法出具证明",
    "id_number": "不是有效的证件号码",
    "id_kind": "须为列出的证件类型之一",
    "consent_required": "须本人单独同意",
    "org_parent": "{kind}不能设在{parent}之下",
    "duty_kind": "须为以下之一：{choices}",
    "unknown_member": "没有这位成员",
    "not_in_service": "须为在职党员（有所在单位的成员）",
    "duty_time": "须在一年之内，且不能晚于现在",
    "quarter_format": "须为季度（如 2026-Q3）",
    "open311_key": "须为本服务生成的密钥，请刷新页面后重试",
    "open311_location": "须给出经纬度（lat、long，在有效范围内）或地址（address_string）",
    "pair_unit_community": "只能将单位与社区结对",
    "wish_role": "“{role}”是与心愿的关系，不是组织中的角色",
    "photo_size": "每张不能超过 {mb} MB",
    "photo_format": "须为 JPEG、PNG 或 WebP 格式的照片",
    "photo_animated": "须为静态照片，不支持动图",
    "photo_pixels": "像素过大（最多 {megapixels} 百万像素）",
    "photo_broken": "无法读取，文件已损坏或不完整",
    "photo_count": "每次可上传 1 到 {high} 张",
    "notice_type": "不是已知的通知类型",
    "webhook_url": "须为 http:// 或 https:// 开头的地址",
    "same_account": "转出和转入须为两个不同的账户",
    "timeout_not_pending": "只有冻结的积分才能设定期限",
    "timeout_range": "期限须为正数，最长十年",
    "nothing_to_reverse": "该积分记录没有可冲正的积分",
    "reversal_not_reversed": "冲正记录不能再冲正，请另行转账",
    "reverse_at_most": "最多可冲正 {high} 分",
    "post_at_most": "最多可入账冻结的 {high} 分",
    "pool_only": "只能是社区积分池（本社区只接受捐给积分池）",
    "no_donations": "本社区不接受积分捐赠",
    "policy_busy": "积分规则正由他人修改，请稍后重试",
    "reserved_reference": "以“{prefix}”开头的编号留作更正之用",
    "correct_original": "请更正原始记录，而不是更正记录",
    "unchanged": "与记录现有的值相同，无需更正",
    "partly_reversed": "该记录的积分已被部分冲正，请先以积分调整处理剩余部分",
    "award_pending": "该记录的积分尚待确认，确认后才能更正",
    "date_format": "须为日期（年-月-日）",
    "correction_field": "须为时长、服务日期或服务类别",
    "below_zero": "该记录共 {total} 分钟，更正后不能少于零",
    "goods_need_stock": "实物商品须填写库存",
    "unlimited_stock": "该商品不限库存",
    "hold_range": "订单保留时间须在一分钟到一年之间",
    "not_on_sale": "该商品未上架",
    "not_yet_on_sale": "该商品尚未上架",
    "no_longer_on_sale": "该商品已下架",
    "calendar_line": "须为“日期,休或班,名称”，如 2027-10-01,休,国庆节",
    "calendar_one_year": "须为同一年的日期",
    "staged_milestones": "阶段性事项须有 1 到 {high} 个阶段目标，日期须在今天之后",
    "not_staged": "只有阶段性事项有阶段目标",
    "assign_to": "须为单位（部门），或本级之下的街道",
    "matter_open": "该心愿已有正在督办的事项",
    "whistle_wish_state": "只有进行中的心愿才能吹哨",
    "no_level_above": "本社区之上没有街道（或街道之上没有区）",
}
"""Every code of ``points.CAUSES`` in Chinese; :func:`cause_zh` fills in the parameters."""

_PARAMS_ZH: dict[str, Callable[[str], str]] = {  # parameters said in Chinese, by their tables
    "other": lambda v: field_zh(v),
    "what": lambda v: what_zh(v),
    "kind": lambda v: labels.label(labels.ORG_KINDS, v),
    "parent": lambda v: labels.label(labels.ORG_KINDS, v),
    "role": lambda v: labels.label(labels.ROLES, v),
}


def cause_zh(cause: Cause) -> str:
    """A library's cause in Chinese, led by the field it names (``认领上限须为 1 到 100``)."""
    params = {k: _PARAMS_ZH[k](str(v)) if k in _PARAMS_ZH else v for k, v in cause.params.items()}
    text = CAUSES_ZH.get(cause.code, "不符合要求").format_map(params)
    return f"{field_zh(cause.field)}{text}" if cause.field else text


_EXACT = {
    "must not contain control characters": "不能包含控制字符",
    "must be a time between the years 1900 and 9000": "须在1900年到9000年之间",
    "must be an 11-digit mainland mobile number": "必须是11位手机号码",
    "is not a cursor this list gave out": "不是本列表给出的分页游标",
    "must be a whole number": "必须是整数",
    "must be at least 8 characters": "至少8个字符",
    "unknown field": "不允许提交该字段",
    "missing": "必须填写",
    "wrong type": "类型不正确",
    "is not allowed here": "不允许提交该字段",
}

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^must be (-?\d+) to (-?\d+)$"), r"须为 \1 到 \2"),
    (re.compile(r"^must be at most (\d+) characters$"), r"最多 \1 个字"),
    (re.compile(r"^must be between (-?\d+) and (-?\d+)"), r"须在 \1 到 \2 之间"),
    (re.compile(r"^must be >= (-?\d+)$"), r"不能小于 \1"),
    (re.compile(r"^must be <= (-?\d+)$"), r"不能大于 \1"),
    (re.compile(r"^length must be <= (\d+)$"), r"最多 \1 个字"),
    (re.compile(r"^length must be >= (\d+)$"), r"至少 \1 个字"),
)  # fmt: skip


def field_zh(field: str | None) -> str:
    if not field:
        return "输入"
    parts = [part.split("[")[0] for part in field.split(".")]
    if len(parts) > 1 and parts[-2] in GROUPS:
        return f"{GROUPS[parts[-2]]}·{WEIGHTS.get(parts[-1], parts[-1])}"
    return FIELDS.get(parts[-1], parts[-1])


def what_zh(what: str) -> str:
    return WHAT.get(what, what)


_PLAIN = {english: code for code, english in CAUSES.items() if "{" not in english}
"""A cause with no parameters, by its English text: what reaches the service as msgspec's
message (a body's own check, e.g. ``Need``) reads as that cause."""


def reason_zh(reason: str) -> str:
    """A library's English reason in Chinese (a general sentence when the phrase is unknown)."""
    text = reason.strip()
    if text in _PLAIN:
        return CAUSES_ZH[_PLAIN[text]]  # a plain cause: no parameters, no field
    if text in _EXACT:
        return _EXACT[text]
    for pattern, replacement in _PATTERNS:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return "不符合要求"
