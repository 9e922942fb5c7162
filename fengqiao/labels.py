"""Chinese display names for the codes users see on case views and screens."""

CHANNELS = {
    "hotline_12345": "12345热线",
    "police_110": "110警情",
    "petition": "信访",
    "court": "法院诉前委派",
    "grid": "网格上报",
    "walk_in": "窗口来访",
    "open311": "Open311",
}

LEVELS = {"city": "市级", "county": "县级", "township": "乡镇级", "village": "村级", "grid": "网格"}

CATEGORIES = {
    "marriage_family": "婚姻家庭",
    "neighbor": "邻里纠纷",
    "property_mgmt": "物业纠纷",
    "labor_wage": "劳动争议、欠薪",
    "medical": "医疗纠纷",
    "traffic": "交通事故",
    "land": "土地草场",
    "consumer": "消费纠纷",
    "finance": "民间借贷、金融纠纷",
    "campus": "校园纠纷",
    "environment": "环境污染",
    "social_security": "社保救助",
    "public_safety": "治安",
    "other": "其他",
}
