"""Chinese words for the service's messages: field names, and the libraries' reasons in Chinese.

The libraries explain bad input in short English phrases (``must be 1 to 100``); people using the
service read Chinese. :func:`reason_zh` turns each known phrase into Chinese and keeps numbers and
names; an unknown phrase falls back to a general sentence, never to English mixed into Chinese.
"""

from __future__ import annotations

import re

FIELDS = {
    "address": "地址",
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
    "org_id": "地点",
    "override_reason": "代报到原因",
    "password": "密码",
    "per_member_limit": "每人限兑数量",
    "phone": "手机号",
    "places": "名额",
    "policy": "积分规则",
    "proxy_note": "代点单说明",
    "purpose": "用途说明",
    "quantity": "数量",
    "rating": "评分",
    "reason": "原因",
    "role": "角色",
    "rules": "社区规则",
    "schedule": "服务时间安排",
    "since": "开始时间",
    "skills": "技能",
    "started_at": "开始时间",
    "stock": "库存",
    "title": "标题",
    "to_member": "受赠人",
    "unit_claim_id": "单位认领",
    "unit_id": "单位",
    "until": "结束时间",
    "urgency": "紧急程度",
    "valid_from": "上架时间",
    "valid_until": "下架时间",
    "window_end": "结束时间",
    "window_start": "开始时间",
    "wish_id": "心愿",
}

WHAT = {
    "wish": "心愿",
    "claim": "认领",
    "member": "成员",
    "org": "组织",
    "community": "社区",
    "offer": "互助项目",
    "role": "角色",
    "transfer": "积分记录",
    "account": "积分账户",
    "catalog item": "商品",
    "redemption order": "兑换订单",
    "service record": "服务记录",
    "route": "接口",
}

_EXACT = {
    "must not be empty": "不能为空",
    "must not contain control characters": "不能包含控制字符",
    "must be text": "必须是文字",
    "must be in the future": "必须晚于当前时间",
    "must come after window_start": "必须晚于开始时间",
    "must come after since": "必须晚于开始时间",
    "a wish spans at most 90 days within the next year": "心愿时间最长90天，且须在一年以内",
    "must be a date and time with a time zone": "必须是带时区的日期时间",
    "must be a time between the years 1900 and 9000": "须在1900年到9000年之间",
    "must be one of the community's categories": "必须是本社区设定的类别之一",
    "must be the community or a place inside it": "必须是本社区或社区内的地点",
    "must be a resident of this community": "必须是本社区的居民",
    "代点单 needs a note of the resident's consent": "代点单须注明居民同意的方式",
    "must be an 11-digit mainland mobile number": "必须是11位手机号码",
    "at most 20 skills of 1 to 32 characters": "最多20项技能，每项1到32个字",
    "is not a cursor this list gave out": "不是本列表给出的分页游标",
    "check-in opens two hours before the agreed time": "报到最早在约定时间前两小时开始",
    "cannot serve their own wish": "不能服务自己的心愿",
    "must be a member of the unit": "必须是该单位的成员",
    "must be a volunteer or party member of the community": "必须是本社区的志愿者或党员",
    "is not a unit's claim": "不是单位认领",
    "is not a request from an offer": "不是来自互助项目的申请",
    "statistics are kept per community, street or district": "统计按社区、街道或区县进行",
    "cannot donate to oneself": "不能捐赠给自己",
    "must be a member of the community": "必须是本社区成员",
    "must not be in the future": "不能晚于当前时间",
    "each member once": "每位成员只能出现一次",
    "must be inside the org the member joins": "必须在所加入组织的范围内",
    "a member with this id exists": "该编号已被使用",
    "this wish id is taken by another wish": "该编号已被其他心愿使用",
    "this claim id is taken by another claim": "该编号已被其他认领使用",
    "must be a whole number": "必须是整数",
    "an adjustment needs a reason": "调整须填写原因",
    "goods need a stock": "实物商品须填写库存",
    "this item has unlimited stock": "该商品不限库存",
    "change must be a non-zero integer": "变动数量须为非零整数",
    "an item needs a name": "商品须有名称",
    "valid_until must come after valid_from": "下架时间须晚于上架时间",
    "valid_from and valid_until must be timezone-aware": "上下架时间须带时区",
    "must be at least 8 characters": "至少8个字符",
    "unknown field": "不允许提交该字段",
    "missing": "必须填写",
    "wrong type": "类型不正确",
    "is not allowed here": "不允许提交该字段",
}

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^must be (-?\d+) to (-?\d+)$"), r"须为 \1 到 \2"),
    (re.compile(r"^(?:limit )?must be (\d+) to (\d+)$"), r"须为 \1 到 \2"),
    (re.compile(r"^must be at most (\d+) characters$"), r"最多 \1 个字"),
    (re.compile(r"^must be 1-64 letters, digits or \. _ : @ -$"), "须为1到64个字母、数字或._:@-"),
    (re.compile(r"^minutes must be 1 to (\d+)$"), r"分钟数须为 1 到 \1"),
    (re.compile(r"^at most (\d+) at once$"), r"一次最多 \1 件"),
    (re.compile(r"^1 to (\d+) members$"), r"须为 1 到 \1 人"),
    (re.compile(r"^(\S+) is not a member of the community$"), r"\1 不是本社区成员"),
    (re.compile(r"^a (\w+) cannot sit under a (\w+)$"), r"该类型的组织不能设在此组织之下"),
    (re.compile(r"^invalid amount .*: must be positive$"), "须为正整数"),
    (re.compile(r"^invalid amount .*: must be an integer$"), "须为整数"),
    (re.compile(r"^invalid amount .*: must be at most (\d+)$"), r"最大为 \1"),
    (re.compile(r"^stock must be at most (\d+)$"), r"库存最多为 \1"),
    (re.compile(r"^invalid (\w+) .*: must be 1 to (\d+) characters$"), r"须为 1 到 \2 个字符"),
    (re.compile(r"^invalid (\w+) .*: may use only letters, digits and \. _ : @ -$"),
     "只能使用字母、数字和 . _ : @ -"),
    (re.compile(r"^invalid (\w+) .*: must be at most (\d+) characters$"), r"最多 \2 个字"),
    (re.compile(r"^must be between (-?\d+) and (-?\d+)"), r"须在 \1 到 \2 之间"),
    (re.compile(r"^must be >= (-?\d+)$"), r"不能小于 \1"),
    (re.compile(r"^must be <= (-?\d+)$"), r"不能大于 \1"),
    (re.compile(r"^length must be <= (\d+)$"), r"最多 \1 个字"),
    (re.compile(r"^length must be >= (\d+)$"), r"至少 \1 个字"),
)  # fmt: skip


def field_zh(field: str | None) -> str:
    if not field:
        return "输入"
    base = field.split(".")[-1].split("[")[0]
    return FIELDS.get(base, base)


def what_zh(what: str) -> str:
    return WHAT.get(what, what)


def reason_zh(reason: str) -> str:
    """A library's English reason in Chinese (a general sentence when the phrase is unknown)."""
    text = reason.strip()
    if text in _EXACT:
        return _EXACT[text]
    for pattern, replacement in _PATTERNS:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return "不符合要求"
